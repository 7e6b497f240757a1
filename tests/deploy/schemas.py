"""Validating manifests offline: custom resources against their upstream CRD schemas (with
unknown fields rejected, as the API server's structural pruning would drop them), core kinds
against Kubernetes' own schemas (kubernetes-validate)."""

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

CRDS = Path(__file__).resolve().parent / "crds"
KUBERNETES_VERSION = "1.33.0"
_IMPLICIT = {"apiVersion": "string", "kind": "string", "metadata": "object"}


def _closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if closed.pop("x-kubernetes-int-or-string", False):
        closed.pop("type", None)
        closed["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if closed.pop("nullable", False) and "type" in closed:
        closed["type"] = [closed["type"], "null"]
    preserve = closed.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in closed and "additionalProperties" not in closed and not preserve:
        closed["additionalProperties"] = False
    return closed


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """(apiVersion, kind) -> validator, for every version each CRD serves."""
    validators = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                schema = _closed(version["schema"]["openAPIV3Schema"])
                # The API server accepts these on every object, listed in the CRD or not.
                schema.setdefault("properties", {}).update(
                    {
                        key: schema["properties"].get(key, {"type": t})
                        for key, t in _IMPLICIT.items()
                    }
                )
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(
                    schema
                )
    return validators


def validation_errors(document: dict[str, Any]) -> list[str]:
    """Why `document` would be refused; empty when it is valid."""
    key = (document.get("apiVersion", ""), document.get("kind", ""))
    validator = crd_validators().get(key)
    if validator is not None:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(document)
        ]
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc)]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {key}: neither a copied CRD nor a core kind"]
    return []
