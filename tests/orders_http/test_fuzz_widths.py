"""Every value a client controls, driven past every integer width and length limit, against the
served function: whatever the value, the answer is never a 5xx, and every error is a small
problem+json. FUZZ_EXAMPLES sets the number of requests (`make fuzz` raises it)."""

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import order_body, served_function

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
WIDE = [2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**20, -1, 0, -(2**63) - 1]
NUMERALS = st.one_of(
    st.sampled_from([str(n) for n in WIDE]),
    st.integers().map(str),
    st.text("0123456789", min_size=1, max_size=5000),
    st.sampled_from(["01", "+1", " 1", "1e3", "1.0", "-0", "\uff11", "9" * 20, ""]),
)
# What h11 lets a client put in a header value: visible ASCII, space, tab and bytes >= 0x80.
# NUL, CR and LF do not get past the HTTP parser (the in-process tests send them).
HEADER_TEXT = st.binary(max_size=300).map(
    lambda raw: bytes(b for b in raw if (b >= 0x20 and b != 0x7F) or b == 0x09).strip()
)
# Long values in ASCII: uvicorn's parser refuses a request line past 80 kB itself (a text/plain
# 400 before the function sees it), and 10,000 characters of UTF-8, percent-encoded, pass that.
LONG_TEXT = st.text(st.characters(max_codepoint=127), min_size=9000, max_size=10_000)
QUERY_TEXT = st.one_of(st.text(max_size=300), LONG_TEXT)
JSON_NUMBERS = st.one_of(
    NUMERALS.filter(lambda n: n.lstrip("-").isdigit() and not n.startswith(("0", "-0"))),
    st.sampled_from(["1e400", "-1e400", "1e20", "2.0", "2e0", "-0.0", "0.0", "1.5", "NaN"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@pytest.fixture(scope="module")
def api(database_url: str, broker: str) -> Iterator[str]:
    env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": broker, "LOG_LEVEL": "ERROR"}
    with served_function("orders_http", env) as url:
        yield url


def _cursor(numeral: str) -> str:
    """The numeral written as the API writes a cursor (16 hexadecimal digits), whatever its
    width; one that is no integer as it is."""
    if numeral.isascii() and numeral.lstrip("-").isdigit() and len(numeral) < 100:
        return f"{int(numeral):016x}"
    return numeral


@st.composite
def requests(draw: st.DrawFn, order_id: str) -> dict[str, Any]:
    """One request with one or more client-controlled values at the edges."""
    kind = draw(st.sampled_from(["list", "if-match", "path", "idempotency-key", "body"]))
    method, path, content = "GET", "/", None
    params: dict[str, str] = {}
    headers: dict[str, bytes] = {}
    if kind == "list":
        method = draw(st.sampled_from(["GET", "HEAD"]))
        candidates = {
            "cursor": st.one_of(NUMERALS.map(_cursor), QUERY_TEXT),
            "limit": NUMERALS,
            "status": st.one_of(st.sampled_from(["CREATED", "SHIPPED"]), QUERY_TEXT),
            "customer_id": st.one_of(st.just("c-1"), QUERY_TEXT),
        }
        names = draw(st.sets(st.sampled_from(sorted(candidates)), min_size=1))
        params = {name: draw(candidates[name]) for name in names}
    elif kind == "if-match":
        method = draw(st.sampled_from(["PUT", "DELETE"]))
        path = f"/{draw(st.sampled_from([order_id, str(uuid.uuid4())]))}"
        tags = draw(st.lists(st.tuples(st.booleans(), NUMERALS), min_size=1, max_size=3))
        tag_list = ", ".join(f'{"W/" if weak else ""}"{n}"' for weak, n in tags)
        headers["If-Match"] = tag_list.encode()  # UTF-8 past ASCII, as a careless client sends
    elif kind == "path":
        method = draw(st.sampled_from(["GET", "HEAD", "PUT", "DELETE"]))
        raw = draw(st.one_of(st.text(max_size=200), NUMERALS, LONG_TEXT))
        path = "/" + quote(raw, safe="")
    elif kind == "idempotency-key":
        method = "POST"
        headers["Idempotency-Key"] = draw(HEADER_TEXT)
    if method in ("POST", "PUT"):
        headers["content-type"] = b"application/json"
        if kind == "body":
            method = "POST"
            quantity, price = draw(JSON_NUMBERS), draw(JSON_NUMBERS)
            content = (
                '{"customer_id": "c-1", "items": [{"sku": "SKU-1", '
                f'"quantity": {quantity}, "unit_price_cents": {price}}}]}}'
            ).encode()
        else:
            content = httpx.Request("POST", "/", json=order_body()).content
    return {
        "method": method,
        "url": path,
        "params": params,
        "headers": headers,
        "content": content,
    }


def _brief(request: dict[str, Any]) -> str:
    """The request as a failure message may show it: hypothesis's own repr runs to 65 kB."""
    text = repr(request)
    return text if len(text) < 2000 else text[:1000] + " ... " + text[-1000:]


def test_no_value_past_a_width_or_limit_earns_a_5xx(api: str) -> None:
    with httpx.Client(base_url=api, timeout=10) as client:
        order_id = client.post("/", json=order_body()).json()["id"]
        answered: list[int] = []

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(request=requests(order_id))
        def check(request: dict[str, Any]) -> None:
            answer = client.request(**request)
            answered.append(answer.status_code)
            assert answer.status_code < 500, (_brief(request), answer.status_code, answer.text)
            if answer.status_code >= 400:
                assert answer.headers["content-type"] == "application/problem+json", (
                    _brief(request),
                    answer.text,
                )
                assert int(answer.headers["content-length"]) < 4096, _brief(request)
            if request["method"] == "HEAD":
                assert answer.content == b""

        check()
    print(f"{len(answered)} requests: {sorted(set(answered))}")
    assert any(status >= 400 for status in answered)
    assert any(status < 300 for status in answered)
