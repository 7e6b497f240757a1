"""The event contract as the tests hold records to it: the AsyncAPI document orders_http serves
(each record checked against its channel's message: key, headers, payload), the official
AsyncAPI schema that document must satisfy, and the order schema as each version was released.

Everything resolves offline: the registries hold the documents themselves and retrieve nothing.
"""

import re
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT7

from functions.orders_http.asyncapi import asyncapi_document
from tests.support import ROOT

CONTRACTS = ROOT / "tests" / "contracts"
_DOCUMENT = "urn:orders:asyncapi"  # where the document lies in the registry

# RFC 3339 (jsonschema checks `date-time` only with an optional package, absent here).
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a real date and time
    return True


def load(name: str) -> Any:
    return orjson.loads((CONTRACTS / name).read_bytes())


@cache
def asyncapi_validator() -> Draft7Validator:
    """The official AsyncAPI 3.0.0 schema (draft-07), every `$ref` of it local."""
    return Draft7Validator(load("asyncapi-3.0.0.schema.json"), registry=Registry())


@cache
def released_order_validator(version: int) -> Draft202012Validator:
    """The order schema as `version` was released."""
    schema = load(f"order-v{version}.schema.json")
    return Draft202012Validator(schema, registry=Registry(), format_checker=FORMATS)


def document() -> Any:
    return orjson.loads(asyncapi_document())


def resolve(document: Any, ref: str) -> Any:
    """The part of `document` a local `$ref` names (JSON pointer, RFC 6901)."""
    assert ref.startswith("#/"), ref
    part = document
    for token in ref.removeprefix("#/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        part = part[int(token)] if isinstance(part, list) else part[token]
    return part


class EventContract:
    """Records held to one AsyncAPI document."""

    def __init__(self, document: Any) -> None:
        self.document = document
        resource = DRAFT7.create_resource(document)
        self._registry: Registry[Any] = Registry().with_resource(_DOCUMENT, resource)

    def _validator(self, pointer: str) -> Draft7Validator:
        return Draft7Validator(
            {"$ref": f"{_DOCUMENT}#{pointer}"}, registry=self._registry, format_checker=FORMATS
        )

    def channel(self, topic: str) -> tuple[str, Any]:
        [found] = [
            (name, channel)
            for name, channel in self.document["channels"].items()
            if channel["address"] == topic
        ]
        return found

    def check(self, topic: str, key: str, headers: dict[str, str], value: bytes) -> str:
        """The id of the one message of `topic`'s channel this record is, after checking its
        key, headers and payload against it (AssertionError or ValidationError otherwise)."""
        _, channel = self.channel(topic)
        matches: list[tuple[str, str]] = []
        for name, ref in channel["messages"].items():
            pointer = ref["$ref"].removeprefix("#")
            if self._validator(f"{pointer}/headers").is_valid(headers):
                matches.append((name, pointer))
        # AsyncAPI: every message on a channel is valid against one, and only one, of its own.
        assert len(matches) == 1, (topic, headers, [name for name, _ in matches])
        [(name, pointer)] = matches
        self._validator(f"{pointer}/headers").validate(headers)
        self._validator(f"{pointer}/bindings/kafka/key").validate(key)
        message = resolve(self.document, f"#{pointer}")
        # A message of a JSON content type is JSON; a dead letter is whatever was refused.
        payload = orjson.loads(value) if "contentType" in message else _as_sent(value)
        self._validator(f"{pointer}/payload").validate(payload)
        return name


def _as_sent(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode("utf-8", "replace")
