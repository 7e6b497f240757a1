"""Turning an HTTP request into validated values, or into the problem that explains why not."""

import base64
import binascii
import json
import re
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shared.auth import CALLER, Caller, owned_key
from shared.function_app import read_body
from shared.lifecycle import OrderStatus
from shared.problems import problem
from shared.schemas import (
    MAX_BIGINT,
    MAX_IDENTIFIER_LENGTH,
    MAX_VERSION,
    LineItem,
    OrderIn,
    is_identifier,
)

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Printable ASCII: a NUL is refused by PostgreSQL text, and other bytes would be stored as
# whatever latin-1 made of them.
IDEMPOTENCY_KEY = re.compile(r"[ -~]+")
# RFC 9110 If-Match: `*` or a comma-separated list of (weak or strong) entity tags.
ENTITY_TAGS = re.compile(r'\s*(\*|(W/)?"[^"]*"(\s*,\s*(W/)?"[^"]*")*)\s*')
ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
# The longest cursor encode_cursor makes is 36 characters.
MAX_CURSOR_LENGTH = 64
MAX_FIELD_ERRORS = 20
MAX_DETAIL_LENGTH = 2000
# How much of a client's value a detail or a field error's loc may quote.
MAX_QUOTE_LENGTH = 64


class BadRequest(Exception):
    """Carries the problem response that answers a request we refuse."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _refuse(status: int, slug: str, title: str, detail: str) -> BadRequest:
    return BadRequest(problem(status, slug, title, detail))


def decimal(text: str, maximum: int) -> int | None:
    """The integer 1..maximum that `text` spells as the API writes it (ASCII digits, no sign,
    no leading zero), or None. The length is checked first: int() of thousands of digits is
    slow, and past 4,300 it raises."""
    if not 0 < len(text) <= len(str(maximum)) or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if text[0] != "0" and value <= maximum else None


def quoted(text: str) -> str:
    """`text` as a detail may quote it: short enough that an answer never echoes a huge input."""
    if len(text) <= MAX_QUOTE_LENGTH:
        return repr(text)
    return f"{text[:MAX_QUOTE_LENGTH]!r}... ({len(text)} characters)"


def order_id_from_path(raw: str) -> UUID:
    """The id in the form the API writes it (hyphenated, 36 characters): UUID() alone would also
    take braces, a `urn:uuid:` prefix or no hyphens, giving one order several addresses."""
    try:
        order_id = UUID(raw)
        if len(raw) == 36 and str(order_id) == raw.lower():
            return order_id
    except ValueError:
        pass
    raise _refuse(404, "not-found", "Not Found", f"{quoted(raw)} is not an order id")


async def read_order_in(request: Request, max_bytes: int) -> OrderIn:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise _refuse(
            415,
            "unsupported-media-type",
            "Unsupported Media Type",
            f"the body must be application/json, not {media_type or 'unspecified'}",
        )
    body = await read_body(request, max_bytes)
    if body is None:
        raise _too_large(max_bytes)
    try:
        order = OrderIn.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid_body(exc, body) from None
    # Each key of a JSON text is followed by one colon, and any other colon is inside a string;
    # a valid body holds at least the required keys, once each. So a colon for each required
    # key and no more leaves no room for a repeated one, at 0.3 µs instead of 5. Only a body
    # with colons in its strings (such as the id "c:1") pays for the full check.
    if body.count(b":") != _ORDER_KEYS + _ITEM_KEYS * len(order.items):
        _refuse_duplicate_keys(body)
    return order


def _required_keys(model: type[BaseModel]) -> int:
    return sum(field.is_required() for field in model.model_fields.values())


_ORDER_KEYS = _required_keys(OrderIn)
_ITEM_KEYS = _required_keys(LineItem)


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _refuse_duplicate_keys(body: bytes) -> None:
    """400 when an object anywhere in `body` names a key twice: pydantic, orjson and json all
    keep the last, so a client and the server could read two different orders in one body."""
    try:
        json.loads(body, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        detail = f"malformed JSON: the key {quoted(exc.key)} appears twice in one object"
        raise _refuse(400, "malformed-json", "Bad Request", detail) from None
    except (ValueError, RecursionError):
        # Not JSON to this parser (pydantic took it, so it is a difference in dialect): the
        # model's own verdict stands.
        return


def _too_large(max_bytes: int) -> BadRequest:
    return _refuse(
        413, "payload-too-large", "Content Too Large", f"the body exceeds {max_bytes} bytes"
    )


def _loc(part: str | int) -> str | int:
    return part if isinstance(part, int) or len(part) <= MAX_QUOTE_LENGTH else quoted(part)


def _invalid_body(exc: ValidationError, body: bytes) -> BadRequest:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return _refuse(400, "malformed-json", "Bad Request", f"malformed JSON: {errors[0]['msg']}")
    _refuse_duplicate_keys(body)
    # The first errors only: a body of thousands of unknown keys must not earn an answer ten
    # times its size.
    fields = [
        {"loc": [_loc(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in errors[:MAX_FIELD_ERRORS]
    ]
    detail = "; ".join(f"{'.'.join(map(str, f['loc'])) or 'body'}: {f['msg']}" for f in fields)
    if len(detail) > MAX_DETAIL_LENGTH:
        detail = detail[:MAX_DETAIL_LENGTH] + "..."
    if len(errors) > MAX_FIELD_ERRORS:
        detail += f"; and {len(errors) - MAX_FIELD_ERRORS} more errors"
    return BadRequest(
        problem(422, "validation-error", "Unprocessable Content", detail, errors=fields)
    )


def expected_versions(request: Request) -> list[int] | None:
    """The versions `If-Match` accepts; None when any version will do.

    A tag that is not one of ours can match no version, so it yields an empty list (412): a
    weak tag (If-Match compares strongly, RFC 9110 13.1.1), or one that is not a version as
    the API writes it, 1..2^31-1 (a larger one would not even fit the statement's int[]).
    """
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    if not ENTITY_TAGS.fullmatch(header):
        raise _refuse(
            400,
            "invalid-if-match",
            "Bad Request",
            'If-Match must be * or a list of entity tags, such as "3"',
        )
    tags = (decimal(tag, MAX_VERSION) for weak, tag in ENTITY_TAG.findall(header) if not weak)
    return [version for version in tags if version is not None]


def _caller(request: Request) -> Caller | None:
    """Who the request's token acts for; None when authentication is off."""
    caller: Caller | None = request.scope.get(CALLER)
    return caller


def caller_customer(request: Request) -> str | None:
    """The customer the caller's token is scoped to; None without auth or for a service."""
    caller = _caller(request)
    return caller.customer if caller is not None else None


def require_own_customer(request: Request, customer_id: str | None) -> str | None:
    """The caller's customer, after refusing (403) a request that names another one."""
    caller = caller_customer(request)
    if caller is not None and customer_id is not None and customer_id != caller:
        raise _refuse(
            403, "forbidden", "Forbidden", f"this token acts for customer {caller!r} only"
        )
    return caller


def etag(version: int) -> str:
    return f'"{version}"'


def idempotency_key(request: Request) -> str | None:
    """The request's `Idempotency-Key`, in its caller's own namespace when there is a caller."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and IDEMPOTENCY_KEY.fullmatch(key)):
        raise _refuse(
            400,
            "invalid-idempotency-key",
            "Bad Request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
        )
    return owned_key(_caller(request), key)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The seq to continue after. Only one encode_cursor can have made is taken: a seq of
    1..2^63-1 (orders.seq is a bigint identity), written as it writes one."""
    if cursor is None:
        return 0
    try:
        if len(cursor) <= MAX_CURSOR_LENGTH:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            prefix, _, number = text.partition(":")
            seq = decimal(number, MAX_BIGINT)
            if prefix == "after" and seq is not None:
                return seq
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _refuse(400, "invalid-cursor", "Bad Request", "cursor is not one this API gave out")


def page_query(request: Request, max_page_size: int) -> tuple[int, str | None, str | None]:
    """(limit, status, customer_id) from the query string."""
    params = request.query_params
    limit = decimal(params.get("limit", "20"), max_page_size)
    if limit is None:
        raise _refuse(
            400, "invalid-limit", "Bad Request", f"limit must be an integer 1..{max_page_size}"
        )
    status = params.get("status")
    if status is not None and status not in OrderStatus.__members__:
        allowed = ", ".join(OrderStatus)
        raise _refuse(400, "invalid-status", "Bad Request", f"status must be one of {allowed}")
    customer_id = params.get("customer_id")
    # A customer id no order can have (a NUL would even fail the statement) is a mistake to
    # report, not a filter that matches nothing.
    if customer_id is not None and not is_identifier(customer_id):
        raise _refuse(
            400,
            "invalid-customer-id",
            "Bad Request",
            f"customer_id must be 1 to {MAX_IDENTIFIER_LENGTH} characters of A-Z a-z 0-9 . _ : @ -",
        )
    return limit, status, customer_id
