"""Generated CloudEvents against the served confirm, ship and outbox_relay functions.

Binary and structured mode; attributes missing, wrong or of the wrong type; unknown orders;
huge, non-JSON and non-UTF-8 payloads; odd content types. Every answer is 2xx or 400, within
seconds, and no order changes unless the event was a well-formed step for it. FUZZ_EXAMPLES
sets the number of events (`make fuzz` raises it)."""

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.events import SOURCES, EventType
from tests.support import binary_headers, order_body, served_function

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
STEPS = {"confirm": EventType.CREATED, "ship": EventType.CONFIRMED}
PING = ("dev.knative.sources.ping", "/apis/v1/namespaces/orders/pingsources/outbox-relay")
TEXT = st.text(max_size=40)
# Past every width a column or a parser has: int4, int8, uint64, and digits beyond them.
WIDE = [2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**20, 10**400]
INTEGERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from(WIDE), st.integers()
)
# The ends of what a timestamp may say, with the offsets that push it past year 1 or 9999.
EDGE_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999+00:00",
    "1970-01-01T00:00:00Z",
]
ODD_VALUES = st.one_of(INTEGERS, st.booleans(), st.none(), st.lists(INTEGERS, max_size=2))


@pytest.fixture(scope="module")
def functions(database_url: str, broker: str) -> Iterator[dict[str, str]]:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": broker,
        "CONFIRM_DELAY_SECONDS": "0",
        "SHIP_DELAY_SECONDS": "0",
        "LOG_LEVEL": "ERROR",
    }
    with (
        served_function("orders_http", env) as orders,
        served_function("confirm", env) as confirm,
        served_function("ship", env) as ship,
        served_function("outbox_relay", env) as relay,
    ):
        yield {"orders_http": orders, "confirm": confirm, "ship": ship, "outbox_relay": relay}


@pytest.fixture(scope="module")
def orders(functions: dict[str, str]) -> list[dict[str, Any]]:
    """Real orders whose ids the generated events name."""
    return [
        httpx.post(f"{functions['orders_http']}/", json=order_body(f"fuzz-{n}")).json()
        for n in range(4)
    ]


async def _states(database_url: str) -> dict[str, tuple[str, int]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id, status, version FROM orders")
    finally:
        await conn.close()
    return {str(row["id"]): (row["status"], row["version"]) for row in rows}


NUMBER_FIELDS = ["version", "total_cents", "quantity", "unit_price_cents"]


def _whole_order(subject: str, field: str, number: int) -> st.SearchStrategy[dict[str, Any]]:
    """A complete order for `subject`, as the events carry it, but for one number."""
    now = datetime.now(UTC).isoformat()
    item = {"sku": "SKU-1", "quantity": 1, "unit_price_cents": 1}
    order: dict[str, Any] = {
        "id": subject,
        "customer_id": "c-1",
        "items": [{**item, field: number} if field in item else item],
        "total_cents": 1,
        "status": "CREATED",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "confirmed_at": None,
        "shipped_at": None,
    }
    if field not in item:
        order[field] = number
    return st.just(order)


def _dumps(value: Any) -> bytes:
    # The standard library's: orjson refuses integers past 64 bits, which is what is sent here.
    return json.dumps(value).encode()


@st.composite
def events(draw: st.DrawFn, order_ids: list[str]) -> dict[str, Any]:
    """A request: target function, mode, attributes (some wrong or missing), data, body."""
    target = draw(st.sampled_from(["confirm", "ship", "outbox_relay"]))
    subject = draw(st.one_of(st.sampled_from(order_ids), st.uuids().map(str), TEXT))
    kind = draw(st.sampled_from([*EventType, PING[0], "x.y.z"]))
    attributes: dict[str, Any] = {
        "specversion": draw(st.sampled_from(["1.0", "1.0", "0.3", ""])),
        "id": draw(st.one_of(st.uuids().map(str), TEXT)),
        "type": kind,
        "source": draw(st.sampled_from([*SOURCES.values(), PING[1], "/elsewhere", ""])),
        "subject": subject,
        "time": draw(
            st.one_of(
                st.just(datetime.now(UTC).isoformat()),
                st.datetimes().map(datetime.isoformat),
                st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
                st.sampled_from(EDGE_TIMES),
                TEXT,
            )
        ),
    }
    for name in draw(st.sets(st.sampled_from(sorted(attributes)), max_size=2)):
        attributes[name] = draw(ODD_VALUES) if draw(st.booleans()) else None
    attributes = {k: v for k, v in attributes.items() if v is not None}
    data = draw(
        st.one_of(
            st.just({**order_body(), "id": subject}),
            _whole_order(subject, draw(st.sampled_from(NUMBER_FIELDS)), draw(INTEGERS)),
            st.dictionaries(TEXT, st.one_of(TEXT, INTEGERS), max_size=3),
            st.lists(INTEGERS, max_size=3),
        )
    )
    body = draw(
        st.one_of(
            st.just(_dumps(data)),
            st.binary(max_size=64),  # invalid UTF-8, not JSON
            st.just(b'{"pad": "' + b"x" * 300_000 + b'"}'),  # beyond MAX_EVENT_BYTES
        )
    )
    return {
        "target": target,
        "structured": draw(st.booleans()),
        "attributes": attributes,
        "data": data,
        "body": body,
        "content_type": draw(
            st.sampled_from(["application/json", "text/plain", "application/octet-stream", ""])
        ),
    }


def _header_safe(value: str) -> bytes:
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value).strip().encode()


def _request(event: dict[str, Any]) -> tuple[dict[bytes, bytes], bytes]:
    if event["structured"]:
        envelope = {**event["attributes"], "data": event["data"]}
        body = _dumps(envelope) if len(event["body"]) < 1000 else event["body"]
        return {b"content-type": b"application/cloudevents+json"}, body
    # Raw UTF-8 in header values, as a careless producer would send them (only the bytes
    # HTTP/1.1 cannot carry in a header are left out).
    headers = {f"ce-{k}".encode(): _header_safe(str(v)) for k, v in event["attributes"].items()}
    if event["content_type"]:
        headers[b"content-type"] = event["content_type"].encode()
    return headers, event["body"]


def _may_move(event: dict[str, Any], before: dict[str, tuple[str, int]]) -> str | None:
    """The order this event may rightly move on: a well-formed step for it, else None."""
    accepts = STEPS.get(event["target"])
    a = event["attributes"]
    if accepts is None or a.get("type") != accepts or a.get("source") != SOURCES[accepts]:
        return None
    return str(a.get("subject")) if str(a.get("subject")) in before else None


def test_no_event_crashes_a_function_or_moves_an_order_it_should_not(
    functions: dict[str, str], orders: list[dict[str, Any]], database_url: str
) -> None:
    answered: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(event=events([order["id"] for order in orders]))
    def check(event: dict[str, Any]) -> None:
        before = asyncio.run(_states(database_url))
        headers, body = _request(event)
        answer = httpx.post(
            f"{functions[event['target']]}/", content=body, headers=headers, timeout=10
        )
        answered.append(answer.status_code)
        assert answer.status_code == 400 or 200 <= answer.status_code < 300, (
            answer.status_code,
            answer.text,
        )
        after = asyncio.run(_states(database_url))
        changed = {i for i in before if before[i] != after.get(i)}
        allowed = _may_move(event, before)
        assert changed <= ({allowed} if allowed and answer.status_code < 300 else set()), (
            event["attributes"],
            changed,
        )

    check()
    print(
        f"{len(answered)} events: {sum(s == 400 for s in answered)} refused (400), "
        f"{sum(s < 300 for s in answered)} acknowledged (2xx)"
    )
    assert answered, "no event was sent"


def test_a_ping_from_elsewhere_is_refused(functions: dict[str, str]) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": PING[0],
        "ce-source": "/apis/v1/namespaces/other/cronjobs/x",
        "content-type": "application/json",
    }
    answer = httpx.post(f"{functions['outbox_relay']}/", content=b"{}", headers=headers)
    assert answer.status_code == 400


WIDTHS = [2**31, 2**63, 2**64, 10**20, -(2**63) - 1, int("9" * 400)]


def _created_headers(order_id: str, time: str) -> dict[str, str]:
    attributes = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": EventType.CREATED,
        "source": SOURCES[EventType.CREATED],
        "subject": order_id,
        "time": time,
    }
    return binary_headers(attributes)


@pytest.mark.parametrize(
    "number", WIDTHS, ids=["2^31", "2^63", "2^64", "10^20", "-2^63-1", "9x400"]
)
@pytest.mark.parametrize("field", ["version", "total_cents", "quantity"])
def test_a_step_for_an_order_with_numbers_past_every_width_answers_2xx_or_400(
    functions: dict[str, str], orders: list[dict[str, Any]], field: str, number: int
) -> None:
    """The event names a real order, but its data carries a number no column can hold."""
    order = orders[0]
    data = (
        {**order, field: number}
        if field != "quantity"
        else {
            **order,
            "items": [{**order["items"][0], "quantity": number}],
        }
    )
    headers = _created_headers(order["id"], datetime.now(UTC).isoformat())
    answer = httpx.post(
        f"{functions['confirm']}/", content=json.dumps(data).encode(), headers=headers
    )
    assert answer.status_code == 400 or 200 <= answer.status_code < 300, answer.text


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"]
)
def test_a_step_at_the_ends_of_time_answers_2xx_or_400(
    functions: dict[str, str], orders: list[dict[str, Any]], time: str
) -> None:
    order = orders[1]
    headers = _created_headers(order["id"], time)
    answer = httpx.post(f"{functions['confirm']}/", content=orjson.dumps(order), headers=headers)
    assert answer.status_code == 400 or 200 <= answer.status_code < 300, answer.text
