"""Turning an HTTP request into validated values, or into the problem that explains why not."""

import base64
import binascii
import re
from uuid import UUID

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shared.auth import CALLER, Caller
from shared.function_app import read_body
from shared.lifecycle import OrderStatus
from shared.problems import problem
from shared.schemas import OrderIn

MAX_IDEMPOTENCY_KEY_LENGTH = 255
# RFC 9110 If-Match: `*` or a comma-separated list of (weak or strong) entity tags.
ENTITY_TAGS = re.compile(r'\s*(\*|(W/)?"[^"]*"(\s*,\s*(W/)?"[^"]*")*)\s*')


class BadRequest(Exception):
    """Carries the problem response that answers a request we refuse."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _refuse(status: int, slug: str, title: str, detail: str) -> BadRequest:
    return BadRequest(problem(status, slug, title, detail))


def _ascii_int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def order_id_from_path(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise _refuse(404, "not-found", "Not Found", f"{raw!r} is not an order id") from None


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
        return OrderIn.model_validate_json(body)
    except ValidationError as exc:
        raise _invalid_body(exc) from None


def _too_large(max_bytes: int) -> BadRequest:
    return _refuse(
        413, "payload-too-large", "Content Too Large", f"the body exceeds {max_bytes} bytes"
    )


def _invalid_body(exc: ValidationError) -> BadRequest:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return _refuse(400, "malformed-json", "Bad Request", f"malformed JSON: {errors[0]['msg']}")
    fields = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    detail = "; ".join(f"{'.'.join(map(str, f['loc'])) or 'body'}: {f['msg']}" for f in fields)
    return BadRequest(
        problem(422, "validation-error", "Unprocessable Content", detail, errors=fields)
    )


def expected_versions(request: Request) -> list[int] | None:
    """The versions `If-Match` accepts; None when any version will do.

    A tag that is not one of ours can match no version, so it yields an empty list (412).
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
    tags = (_ascii_int(tag.strip().removeprefix("W/").strip('"')) for tag in header.split(","))
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
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise _refuse(
            400,
            "invalid-idempotency-key",
            "Bad Request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
        )
    caller = _caller(request)
    return caller.own_key(key) if caller is not None else key


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        seq = _ascii_int(number)
        if prefix == "after" and seq is not None:
            return seq
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _refuse(400, "invalid-cursor", "Bad Request", "cursor is not one this API gave out")


def page_query(request: Request, max_page_size: int) -> tuple[int, str | None, str | None]:
    """(limit, status, customer_id) from the query string."""
    params = request.query_params
    limit = _ascii_int(params.get("limit", "20"))
    if limit is None or not 1 <= limit <= max_page_size:
        raise _refuse(
            400, "invalid-limit", "Bad Request", f"limit must be an integer 1..{max_page_size}"
        )
    status = params.get("status")
    if status is not None and status not in OrderStatus.__members__:
        allowed = ", ".join(OrderStatus)
        raise _refuse(400, "invalid-status", "Bad Request", f"status must be one of {allowed}")
    return limit, status, params.get("customer_id")
