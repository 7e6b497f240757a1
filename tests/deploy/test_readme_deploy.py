"""The README's "Deploy" commands against the files they use: every path exists, every `-var`
is a variable of the stage it is passed to, the versions named are the ones pinned and installed,
and the page says that no cluster runs in the tests."""

import re
from typing import Any

import hcl2

from tests.support import ROOT

README = (ROOT / "README.md").read_text()
DEPLOY = README[
    README.index("## Deploy\n") : README.index("\n## ", README.index("## Deploy\n") + 1)
]


def _kind_block() -> str:
    blocks: list[str] = re.findall(r"```sh\n(.*?)```", DEPLOY, flags=re.DOTALL)
    [block] = [b for b in blocks if b.startswith("kind create cluster --name orders\n")]
    return block


def _commands(block: str) -> list[str]:
    """Shell lines with their backslash continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def _parsed(stage: str) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted((ROOT / "terraform" / stage).glob("*.tf")):
        for block, entries in hcl2.loads(path.read_text()).items():  # type: ignore[attr-defined]
            merged.setdefault(block, []).extend(entries)
    return merged


def _defaults(stage: str) -> dict[str, Any]:
    return {
        name: body.get("default", [None])[0]
        for entry in _parsed(stage)["variable"]
        for name, body in entry.items()
    }


def test_the_kind_path_names_only_what_exists() -> None:
    """Each `(cd terraform/<stage> && terraform ...)` names a stage of this repository and passes
    only variables that stage declares (Terraform refuses an undeclared `-var`: "Value for
    undeclared variable"); `terraform output -raw url` reads an output of stage 2; the kn script
    and the func.yaml the other paths name exist."""
    commands = _commands(_kind_block())
    stages = []
    for command in commands:
        for stage, rest in re.findall(r"\(cd terraform/(\w+) && (.*)\)", command):
            assert (ROOT / "terraform" / stage).is_dir(), stage
            stages.append(stage)
            for name in re.findall(r"-var (\w+)=", rest):
                assert name in _defaults(stage), f"{name} is no variable of terraform/{stage}"
    assert stages[:2] == ["operators", "app"], "stage 1 first: stage 2 plans against its CRDs"
    outputs = {name for entry in _parsed("app")["output"] for name in entry}
    [output] = re.findall(r"terraform output -raw (\w+)", _kind_block())
    assert output in outputs
    assert 'IMAGE="$image" bash knative/deploy-with-kn.sh' in DEPLOY
    assert (ROOT / "knative" / "deploy-with-kn.sh").is_file()
    for path in re.findall(r"kn func deploy --path (\S+)", DEPLOY):
        assert (ROOT / path / "func.yaml").is_file(), path
    for name in re.findall(r"-var (\w+)=", DEPLOY):
        assert name in _defaults("app") or name in _defaults("operators"), name


def test_the_knative_release_is_one_and_named() -> None:
    """Knative's YAML install (knative.dev/docs install/yaml-install): Serving, net-kourier,
    Eventing and eventing-kafka-broker are released together and installed at matching versions;
    the checks read the code of that release, which the README names."""
    urls = re.findall(r"https://github\.com/\S+/releases/download/(\S+?)/\S+\.yaml", _kind_block())
    assert len(urls) == 8
    assert set(urls) == {"knative-v1.20.0"}
    versions = DEPLOY[DEPLOY.index("**Versions.**") :]
    assert "`knative-v1.20.0`" in versions[: versions.index("\n\n")]


def test_the_pinned_versions_are_the_ones_named() -> None:
    """The operators' charts (terraform/operators/variables.tf) and the providers' constraints
    (versions.tf) are the versions the README says the checks encode."""
    versions = DEPLOY[DEPLOY.index("**Versions.**") :]
    versions = versions[: versions.index("\n\n")]
    defaults = _defaults("operators")
    for variable in ("strimzi_version", "cloudnative_pg_version", "cert_manager_version"):
        assert f"`{defaults[variable]}`" in versions, variable
    for stage in ("operators", "app"):
        [terraform] = _parsed(stage)["terraform"]
        [providers] = terraform["required_providers"]
        for name, [provider] in providers.items():
            assert provider["source"] == f"hashicorp/{name}"
            assert f"`hashicorp/{name}` `{provider['version']}`" in versions, name
    assert "No cluster runs in the tests" in " ".join(versions.split())
