"""Turning an HTTP request into validated values, or into the problem that explains why not."""

import re
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from shared.domain.lifecycle import OrderStatus
from shared.domain.schemas import (
    MAX_IDENTIFIER_LENGTH,
    MAX_VERSION,
    is_identifier,
)
from shared.runtime.auth import CALLER, Caller, owned_key
from shared.runtime.problems import problem

# Each pattern below is the whole grammar of a value, matched whole (fullmatch) here and
# declared as it is in the OpenAPI document, so a value the document allows is one taken here.
# Header values are field values as HTTP/1.1 parsing leaves them: without surrounding spaces.

ORDER_ID_PATTERN = "-".join(f"[0-9A-Fa-f]{{{n}}}" for n in (8, 4, 4, 4, 12))
ORDER_ID = re.compile(ORDER_ID_PATTERN)
DEFAULT_PAGE_SIZE = 20
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# Printable ASCII: a NUL is refused by PostgreSQL text, and other bytes would be stored as
# whatever latin-1 made of them.
IDEMPOTENCY_KEY_PATTERN = r"[!-~](?:[ -~]*[!-~])?"
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
# RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = "!" / %x23-7E / obs-text.
_ENTITY_TAG = r'(?:W/)?"[!#-~\x80-\xff]*"'
# If-Match (13.1.2) is `*` or a comma-separated list of entity tags (OWS = spaces and tabs).
ENTITY_TAG_LIST_PATTERN = rf"{_ENTITY_TAG}(?:[ \t]*,[ \t]*{_ENTITY_TAG})*"
ENTITY_TAGS = re.compile(ENTITY_TAG_LIST_PATTERN)
ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
# A cursor is the seq to continue after, 0..2^63-1 (orders.seq is a bigint identity), in 16
# hexadecimal digits: each string of that form is a position (0 the start; past the newest
# order, an empty page), so the cursors the API takes are exactly those the document allows.
CURSOR_PATTERN = "[0-7][0-9a-f]{15}"
_CURSOR = re.compile(CURSOR_PATTERN)
# How much of a client's value a detail or a field error's loc may quote.
MAX_QUOTE_LENGTH = 64


class BadRequest(Exception):
    """Carries the problem response that answers a request we refuse."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def refuse(status: int, slug: str, title: str, detail: str) -> BadRequest:
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
    """The id in the form the API writes it (hyphenated, 36 characters, either case): UUID()
    alone would also take braces, a `urn:uuid:` prefix or no hyphens, giving one order several
    addresses."""
    if ORDER_ID.fullmatch(raw):
        return UUID(raw)
    raise refuse(404, "not-found", "Not Found", f"{quoted(raw)} is not an order id")


def expected_versions(request: Request) -> list[int] | None:
    """The versions `If-Match` accepts; None when any version will do.

    A tag that is not one of ours can match no version, so it yields an empty list (412): a
    weak tag (If-Match compares strongly, RFC 9110 13.1.1), or one that is not a version as
    the API writes it, 1..2^31-1 (a larger one would not even fit the statement's int[]).
    """
    header = request.headers.get("if-match")
    if header is None or header == "*":
        return None
    if not ENTITY_TAGS.fullmatch(header):
        raise refuse(
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
        raise refuse(403, "forbidden", "Forbidden", f"this token acts for customer {caller!r} only")
    return caller


def etag(version: int) -> str:
    return f'"{version}"'


def idempotency_key(request: Request) -> str | None:
    """The request's `Idempotency-Key`, in its caller's own namespace when there is a caller."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and IDEMPOTENCY_KEY.fullmatch(key)):
        raise refuse(
            400,
            "invalid-idempotency-key",
            "Bad Request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters",
        )
    return owned_key(_caller(request), key)


def encode_cursor(seq: int) -> str:
    return f"{seq:016x}"


def decode_cursor(cursor: str | None) -> int:
    """The seq to continue after: 0 (the start) without a cursor."""
    if cursor is None:
        return 0
    if _CURSOR.fullmatch(cursor):
        return int(cursor, 16)
    raise refuse(
        400,
        "invalid-cursor",
        "Bad Request",
        "cursor must be a next_cursor this API gave out (16 hexadecimal digits)",
    )


def page_query(request: Request, max_page_size: int) -> tuple[int, str | None, str | None]:
    """(limit, status, customer_id) from the query string."""
    params = request.query_params
    limit = decimal(params.get("limit", str(DEFAULT_PAGE_SIZE)), max_page_size)
    if limit is None:
        raise refuse(
            400, "invalid-limit", "Bad Request", f"limit must be an integer 1..{max_page_size}"
        )
    status = params.get("status")
    if status is not None and status not in OrderStatus.__members__:
        allowed = ", ".join(OrderStatus)
        raise refuse(400, "invalid-status", "Bad Request", f"status must be one of {allowed}")
    customer_id = params.get("customer_id")
    # A customer id no order can have (a NUL would even fail the statement) is a mistake to
    # report, not a filter that matches nothing.
    if customer_id is not None and not is_identifier(customer_id):
        raise refuse(
            400,
            "invalid-customer-id",
            "Bad Request",
            f"customer_id must be 1 to {MAX_IDENTIFIER_LENGTH} characters of A-Z a-z 0-9 . _ : @ -",
        )
    return limit, status, customer_id
