"""Every manifest under knative/ is valid, and the routes hang together."""

from typing import Any

import pytest

from shared.domain.events import ALL_TOPICS
from shared.local.manifests import load_documents
from tests.deploy.schemas import validation_errors

DOCUMENTS = load_documents()


def _named(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in DOCUMENTS if d["kind"] == kind}


@pytest.mark.parametrize(
    "document", DOCUMENTS, ids=[f"{d['kind']}/{d['metadata']['name']}" for d in DOCUMENTS]
)
def test_manifest_is_valid(document: dict[str, Any]) -> None:
    assert validation_errors(document) == []


def test_validation_rejects_unknown_fields_and_wrong_types() -> None:
    source = next(d for d in DOCUMENTS if d["kind"] == "KafkaSource")
    assert validation_errors({**source, "spec": {**source["spec"], "orderng": "unordered"}})
    assert validation_errors({**source, "spec": {**source["spec"], "topics": "orders.created"}})
    config = next(d for d in DOCUMENTS if d["kind"] == "ConfigMap")
    assert validation_errors({**config, "dataa": {}})


def test_kafka_versions_are_strimzi_v1() -> None:
    strimzi = [d for d in DOCUMENTS if d["apiVersion"].startswith("kafka.strimzi.io")]
    assert {d["kind"] for d in strimzi} == {"Kafka", "KafkaNodePool", "KafkaTopic"}
    assert {d["apiVersion"] for d in strimzi} == {"kafka.strimzi.io/v1"}


def test_every_topic_the_code_uses_is_a_kafka_topic() -> None:
    topics = {d["spec"]["topicName"] for d in _named("KafkaTopic").values()}
    assert topics == set(ALL_TOPICS)


def test_sources_and_sinks_point_at_what_exists() -> None:
    services = _named("Service")
    topics = {d["spec"]["topicName"] for d in _named("KafkaTopic").values()}
    sinks = _named("KafkaSink")
    for source in _named("KafkaSource").values():
        spec = source["spec"]
        assert spec["sink"]["ref"]["name"] in services
        assert set(spec["topics"]) <= topics
        assert spec["delivery"]["deadLetterSink"]["ref"]["name"] in sinks
        assert spec["ordering"] == "unordered"
    for sink in sinks.values():
        assert sink["spec"]["topic"] in topics
    for ping in _named("PingSource").values():
        assert ping["spec"]["sink"]["ref"]["name"] in services


def test_services_scale_to_zero_and_keep_steps_private() -> None:
    services = _named("Service")
    assert set(services) == {"orders-http", "confirm", "ship", "outbox-relay"}
    for name, service in services.items():
        template = service["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
        [container] = template["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"requests", "limits"} <= set(container["resources"])
        env = {e["name"]: e for e in container["env"]}
        assert env["FUNCTION_TARGET"]["value"] == name.replace("-", "_")
        assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]
        visibility = service["metadata"].get("labels", {}).get("networking.knative.dev/visibility")
        assert visibility == (None if name == "orders-http" else "cluster-local")


def test_step_timeouts_exceed_the_delays() -> None:
    config = _named("ConfigMap")["orders-config"]["data"]
    services = _named("Service")
    sources = {s["spec"]["sink"]["ref"]["name"]: s for s in _named("KafkaSource").values()}
    from shared.local.manifests import iso_duration_seconds

    for name, delay in (("confirm", "CONFIRM_DELAY_SECONDS"), ("ship", "SHIP_DELAY_SECONDS")):
        seconds = float(config[delay])
        assert services[name]["spec"]["template"]["spec"]["timeoutSeconds"] > seconds
        assert iso_duration_seconds(sources[name]["spec"]["delivery"]["timeout"]) > seconds


def test_the_kn_script_deploys_every_service_and_manifest() -> None:
    import re

    from tests.support import ROOT

    script = (ROOT / "knative" / "deploy-with-kn.sh").read_text()
    [names] = re.findall(r"(?m)^for name in (.*); do$", script)
    assert set(names.split()) == set(_named("Service"))
    for manifest in (
        "kafka-cluster.yaml",
        "kafka-topics.yaml",
        "config.yaml",
        "kafka-sources.yaml",
        "dead-letter-sink.yaml",
        "ping-source.yaml",
        "services.yaml",
    ):
        assert manifest in script


@pytest.mark.parametrize("function", ["orders_http", "confirm", "ship", "outbox_relay"])
def test_func_yaml_matches_the_service(function: str) -> None:
    import yaml

    from tests.support import ROOT

    func = yaml.safe_load((ROOT / "functions" / function / "func.yaml").read_text())
    service = _named("Service")[function.replace("_", "-")]
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert func["name"] == service["metadata"]["name"]
    assert func["run"]["envs"][0] == {"name": "FUNCTION_TARGET", "value": function}
    assert func["deploy"]["healthEndpoints"] == {"liveness": "/healthz", "readiness": "/readyz"}
    scale = func["deploy"]["options"]["scale"]
    assert (scale["min"], scale["max"], scale["target"]) == (
        0,
        int(annotations["autoscaling.knative.dev/max-scale"]),
        int(annotations["autoscaling.knative.dev/target"]),
    )
    assert func["invoke"] == ("http" if function == "orders_http" else "cloudevent")


EVENT_SERVICES = {"confirm", "ship", "outbox-relay"}


def _verified_audiences() -> dict[str, str]:
    """Knative Service -> the token audience it verifies (EVENT_AUTH_AUDIENCE)."""
    found = {}
    for name, service in _named("Service").items():
        [container] = service["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if "EVENT_AUTH_AUDIENCE" in env:
            found[name] = env["EVENT_AUTH_AUDIENCE"]
    return found


def test_sources_name_the_audiences_their_sinks_verify() -> None:
    # A source mints its token for spec.sink.audience; a drift would refuse every event.
    sources = [*_named("KafkaSource").values(), *_named("PingSource").values()]
    named = {s["spec"]["sink"]["ref"]["name"]: s["spec"]["sink"]["audience"] for s in sources}
    assert named == _verified_audiences()
    assert set(named) == EVENT_SERVICES
    assert len(set(named.values())) == len(named), "one audience per sink: no token fires two"


def test_only_the_event_functions_read_who_may_fire_them() -> None:
    assert "orders-event-auth" in _named("ConfigMap")
    assert "EVENT_AUTH_JWKS_URL" not in _named("ConfigMap")["orders-event-auth"]["data"], "off"
    for name, service in _named("Service").items():
        [container] = service["spec"]["template"]["spec"]["containers"]
        maps = {e["configMapRef"]["name"] for e in container["envFrom"]}
        assert ("orders-event-auth" in maps) == (name in EVENT_SERVICES)


def _service_env(name: str) -> dict[str, str | None]:
    [container] = _named("Service")[name]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def _source_subjects() -> dict[str, str]:
    """Knative Service -> the `sub` of its source's token: the service account Eventing
    (knative-v1.20.0 pkg/auth/serviceaccount.go GetOIDCServiceAccountNameForResource) makes for
    the source, `<name>-oidc-<group>-<kind>`, lower-cased, in the source's namespace."""
    from shared.local.signing import source_subject

    return {
        source["spec"]["sink"]["ref"]["name"]: source_subject(
            source["metadata"]["namespace"], source["metadata"]["name"], kind
        )
        for kind in ("KafkaSource", "PingSource")
        for source in _named(kind).values()
    }


def test_each_event_function_takes_tokens_of_its_own_source_only() -> None:
    # The audience alone admits any workload's token: a pod may request one for any audience
    # for its own service account (TokenRequest). The subject pins the source's account.
    subjects = _source_subjects()
    assert set(subjects) == EVENT_SERVICES
    for name in EVENT_SERVICES:
        assert _service_env(name).get("EVENT_AUTH_SUBJECTS") == subjects[name], name


def test_func_deploys_the_same_audiences() -> None:
    # The kn script deploys services.yaml itself (tests/deploy/test_deploy_paths.py).
    import yaml

    from tests.support import ROOT

    verified = _verified_audiences()
    for name in EVENT_SERVICES:
        func = yaml.safe_load(
            (ROOT / "functions" / name.replace("-", "_") / "func.yaml").read_text()
        )
        envs = func["run"]["envs"]
        assert {"name": "EVENT_AUTH_AUDIENCE", "value": verified[name]} in envs
        subject = _source_subjects()[name]
        assert {"name": "EVENT_AUTH_SUBJECTS", "value": subject} in envs
        assert {"value": "{{ configMap:orders-event-auth }}"} in envs


def _kn_func_deploys(text: str) -> list[str]:
    """Every `kn func deploy` command in `text`: an inline code span (which may wrap lines) or a
    shell line (with its backslash continuations)."""
    import re

    text = re.sub(r"\\\n", " ", text)
    commands = []
    for match in re.finditer(r"(?:kn )?func deploy\b", text):
        inline = text[: match.start()].endswith("`")
        end = text.find("`" if inline else "\n", match.end())
        commands.append(" ".join(text[match.start() : end if end >= 0 else None].split()))
    return commands


def test_every_kn_func_deploy_skips_build_and_push() -> None:
    """knative/func cmd/deploy.go (NewDeployCmd): `--build` defaults to "auto" and `--push`
    (`-u`) to true, so `--build=false` alone still pushes, and Client.Push
    (pkg/functions/client.go) fails with ErrNotBuilt ("not built") for an image func did not
    build; with an image pinned by digest, pushing is refused outright ("pushing is not valid
    when specifying an image with digest", deployConfig.Validate). The project's image comes
    from the Dockerfile, so each line says `--build=false --push=false`, as func's own help
    does ("func deploy --build=false --push=false")."""
    from tests.support import ROOT

    sources = [
        ROOT / "README.md",
        *(ROOT / "knative").glob("*.sh"),
        *(ROOT / "functions").rglob("func.yaml"),
        ROOT / "Makefile",
    ]
    commands = [c for path in sources for c in _kn_func_deploys(path.read_text())]
    assert commands, "the README documents kn func deploy"
    for command in commands:
        flags = command.split()
        assert "--build=false" in flags, command
        assert "--push=false" in flags, command


def test_the_kn_func_deploy_scan_reads_wrapped_and_continued_lines() -> None:
    assert _kn_func_deploys("`kn func deploy --path x\n--build=false` deploys") == [
        "kn func deploy --path x --build=false"
    ]
    assert _kn_func_deploys("kn func deploy \\\n  --push=false\nnext") == [
        "kn func deploy --push=false"
    ]


def test_no_manifest_relies_on_retry_after_max() -> None:
    """knative-extensions/eventing-kafka-broker (knative-v1.20.0) proto/contract.proto, message
    EgressConfig: the Kafka data plane's delivery settings are retry, backoffPolicy, backoffDelay
    and timeout only; `delivery.retryAfterMax` is accepted by the KafkaSource CRD (its description:
    it "depends on specific implementations ... choosing to provide this capability") and dropped,
    and no Retry-After header is read. So no manifest sets it, and the local stand-in, which reads
    the same manifests, ignores Retry-After as the cluster does."""
    import re

    from shared.local.manifests import kafka_sources
    from tests.support import ROOT

    for path in [*(ROOT / "knative").glob("*"), *(ROOT / "terraform").rglob("*.tf")]:
        assert not re.search(r"(?m)^[^#\n]*retryAfterMax", path.read_text()), path
    for source in _named("KafkaSource").values():
        assert "retryAfterMax" not in source["spec"]["delivery"]
    specs = kafka_sources()
    assert specs
    assert {spec.delivery.retry_after_max for spec in specs} == {None}


def test_readiness_probes_keep_knative_aggressive_probing() -> None:
    """knative/serving (knative-v1.20.0) pkg/queue/readiness/probe.go, shouldProbeAggressively:
    only a readiness probe with `periodSeconds` 0 (unset) is retried by the queue-proxy every 50 ms
    until it succeeds (the short cold start); pkg/apis/serving/k8s_validation.go,
    validateReadinessProbe, then refuses `failureThreshold` and `timeoutSeconds`. Liveness probes
    are run by the kubelet and are not rewritten, so they may keep a period."""
    for name, service in _named("Service").items():
        [container] = service["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"] == {"httpGet": {"path": "/readyz"}}, name


def test_kafka_sources_run_one_consumer_per_partition() -> None:
    """knative-extensions/eventing-kafka-broker (knative-v1.20.0)
    control-plane/pkg/apis/sources/v1/kafka_defaults.go: `spec.consumers` defaults to 1; Kafka
    gives each partition to one consumer of a group, so more consumers than partitions sit idle.
    The sources say it: one consumer per partition of the topics they read. (`consumerGroup` is
    immutable, kafka_validation.go CheckImmutableFields: the file says so beside it.)"""
    from tests.support import ROOT

    partitions = {
        d["spec"]["topicName"]: d["spec"]["partitions"] for d in _named("KafkaTopic").values()
    }
    for source in _named("KafkaSource").values():
        spec = source["spec"]
        assert spec["consumers"] == max(partitions[topic] for topic in spec["topics"])
    text = (ROOT / "knative" / "kafka-sources.yaml").read_text()
    assert "consumerGroup: immutable" in text
