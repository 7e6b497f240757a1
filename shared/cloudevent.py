"""A CloudEvent read from an HTTP request, binary or structured content mode (CloudEvents 1.0).

Parsed here rather than by the CloudEvents SDK: it was a seventh of a step's CPU, and every way
a request can fail to be an event must end in one exception that the function answers with 400.
"""

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

REQUIRED = ("id", "source", "type")
STRUCTURED = "application/cloudevents+json"


class NotACloudEvent(ValueError):
    """The request is not a CloudEvent this service can read."""


@dataclass(frozen=True)
class CloudEvent:
    attributes: dict[str, Any]
    data: Any = field(default=None)

    def get(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.attributes[name]


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type in ("", "application/json", "text/json") or media_type.endswith("+json")


def _json(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotACloudEvent(f"{what} is not valid JSON (UTF-8): {exc}") from None


def _checked(attributes: dict[str, Any], data: Any) -> CloudEvent:
    if attributes.get("specversion") != "1.0":
        raise NotACloudEvent(f"specversion must be 1.0, not {attributes.get('specversion')!r}")
    for name in REQUIRED:
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            raise NotACloudEvent(f"the {name} attribute must be a non-empty string")
    return CloudEvent(attributes, data)


def _structured(body: bytes) -> CloudEvent:
    envelope = _json(body, "the structured event")
    if not isinstance(envelope, dict):
        raise NotACloudEvent("a structured event must be a JSON object")
    data = envelope.pop("data", None)
    if "data_base64" in envelope:
        encoded = envelope.pop("data_base64")
        try:
            data = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise NotACloudEvent("data_base64 is not base64") from None
    return _checked(envelope, data)


def _binary(headers: Mapping[str, str], media_type: str, body: bytes) -> CloudEvent:
    attributes: dict[str, Any] = {
        name[3:]: value for name, value in headers.items() if name.lower().startswith("ce-")
    }
    attributes = {name.lower(): value for name, value in attributes.items()}
    if media_type:
        attributes["datacontenttype"] = media_type
    data: Any = body or None
    if body and _is_json(media_type):
        data = _json(body, "the event data")
    return _checked(attributes, data)


def from_request(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """The event in a request (header names as Starlette gives them: lower case)."""
    media_type = _media_type(headers.get("content-type", ""))
    if media_type == STRUCTURED:
        return _structured(body)
    if media_type.startswith("application/cloudevents"):
        raise NotACloudEvent(f"{media_type} (batched or not JSON) is not accepted")
    if "ce-specversion" not in headers:
        raise NotACloudEvent("neither ce- headers (binary mode) nor application/cloudevents+json")
    return _binary(headers, media_type, body)
