"""The local KafkaSource against a real broker and a real HTTP sink that answers as scripted."""

import asyncio
import base64
import dataclasses
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from shared.domain.events import ALL_TOPICS
from shared.local.kafka_source import LocalKafkaSource
from shared.local.manifests import KafkaSourceSpec, kafka_sources
from shared.messaging.kafka import ensure_topics
from shared.settings import get_settings
from tests.kafka_support import wait_for_records
from tests.support import free_port

# Compact JSON: a parse and dump on the way would show as '{"n": 1}'.
VALUE = b'{"n":1}'


class ScriptedSink:
    """Answers each CloudEvent id with the next status of its script (then 200); records calls."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[int]] = {}
        self.calls: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.bodies: dict[str, list[bytes]] = defaultdict(list)
        self.hold: set[str] = set()
        self.release = asyncio.Event()
        # Every call's event id, in the order the calls came.
        self.arrivals: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        event_id = request.headers.get("ce-id", "")
        self.arrivals.append(event_id)
        self.calls[event_id].append(dict(request.headers))
        self.bodies[event_id].append(await request.read())
        if event_id in self.hold:
            await self.release.wait()
        script = self.scripts.get(event_id, [])
        status = script.pop(0) if script else 200
        return web.Response(status=status, text=f"answer {status}")


@pytest.fixture
async def sink() -> AsyncIterator[tuple[ScriptedSink, str]]:
    scripted = ScriptedSink()
    app = web.Application()
    app.router.add_post("/", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield scripted, f"http://127.0.0.1:{port}/"
    scripted.release.set()
    await runner.cleanup()


@pytest.fixture
async def topic(broker: str) -> str:
    name = f"test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(get_settings(), (name, *ALL_TOPICS), partitions=2)
    return name


def _spec(topic: str, retry: int = 2) -> KafkaSourceSpec:
    base = kafka_sources()[0]
    return dataclasses.replace(
        base,
        topics=(topic,),
        consumer_group=f"group-{topic}",
        delivery=dataclasses.replace(base.delivery, retry=retry, backoff_delay=0.01, timeout=30),
    )


def _ce_headers(event_id: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_type", b"t"),
        ("ce_source", b"/s"),
    ]


async def _produce(broker: str, topic: str, event_id: str, ce: bool = True) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    await producer.send_and_wait(
        topic,
        VALUE,
        key=event_id.encode(),
        headers=[*(_ce_headers(event_id) if ce else []), ("content-type", b"application/json")],
    )
    await producer.stop()


async def _produce_to_partitions(broker: str, topic: str, records: list[tuple[str, int]]) -> None:
    """Events (id, partition), in this order."""
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        for event_id, partition in records:
            await producer.send_and_wait(
                topic, VALUE, partition=partition, headers=_ce_headers(event_id)
            )
    finally:
        await producer.stop()


async def _until(condition: Any, within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.05)


async def _running(spec: KafkaSourceSpec, url: str) -> asyncio.Task[None]:
    return asyncio.create_task(LocalKafkaSource(spec, url, get_settings()).run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_retries_retryable_answers_then_delivers(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    scripted.scripts["e1"] = [503, 429, 404]
    task = await _running(_spec(topic, retry=5), url)
    try:
        await _produce(broker, topic, "e1")
        await _until(lambda: len(scripted.calls["e1"]) == 4)
        call = scripted.calls["e1"][0]
        assert call["ce-specversion"] == "1.0"
        assert call["Content-Type"] == "application/json"
        assert "ce-partitionkey" not in call  # Knative's sends none for a CloudEvent record
        assert scripted.bodies["e1"] == [VALUE] * 4
    finally:
        await _stop(task)
    assert await wait_for_records(broker, ("orders.dlq",), {"e1"}, 1, within=1) == []


async def test_a_400_goes_straight_to_the_dead_letter_topic(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    scripted.scripts["bad"] = [400]
    task = await _running(_spec(topic), url)
    try:
        await _produce(broker, topic, "bad")
        [dead] = await wait_for_records(broker, ("orders.dlq",), {"bad"}, 1)
    finally:
        await _stop(task)
    assert len(scripted.calls["bad"]) == 1
    assert dead.headers["ce_id"] == "bad"
    assert dead.headers["ce_knativeerrorcode"] == "400"
    assert dead.headers["ce_knativeerrordest"] == url
    assert base64.b64decode(dead.headers["ce_knativeerrordata"]) == b"answer 400"
    assert dead.value == VALUE
    assert dead.headers["content-type"] == "application/json"
    assert dead.headers["ce_type"] == "t"


async def test_exhausted_retries_go_to_the_dead_letter_topic(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    scripted.scripts["sick"] = [500, 500, 500, 500]
    task = await _running(_spec(topic, retry=2), url)
    try:
        await _produce(broker, topic, "sick")
        [dead] = await wait_for_records(broker, ("orders.dlq",), {"sick"}, 1)
    finally:
        await _stop(task)
    assert len(scripted.calls["sick"]) == 3
    assert dead.headers["ce_knativeerrorcode"] == "500"


async def test_a_plain_record_is_wrapped_as_a_kafka_event(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    task = await _running(_spec(topic), url)
    try:
        await _produce(broker, topic, "plain", ce=False)
        await _until(lambda: any(k.startswith("partition:") for k in scripted.calls))
    finally:
        await _stop(task)
    [(_event_id, [call])] = [
        (k, v) for k, v in scripted.calls.items() if k.startswith("partition:")
    ]
    assert call["ce-type"] == "dev.knative.kafka.event"
    assert call["ce-source"].endswith(f"#{topic}")


async def test_in_flight_records_come_again_after_a_restart(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    scripted.hold.add("slow")
    spec = _spec(topic)
    first = await _running(spec, url)
    try:
        await _produce(broker, topic, "slow")
        await _produce(broker, topic, "quick")
        await _until(lambda: scripted.calls["slow"] and scripted.calls["quick"])
        await asyncio.sleep(0.5)  # several commit rounds pass while "slow" is in flight
    finally:
        await _stop(first)
    scripted.hold.clear()
    second = await _running(spec, url)
    try:
        await _until(lambda: len(scripted.calls["slow"]) == 2)
    finally:
        await _stop(second)


async def test_deliveries_carry_a_token_for_the_sink_audience(
    broker: str, topic: str, sink: tuple[ScriptedSink, str], tmp_path: Any
) -> None:
    import jwt

    from shared.local.signing import LOCAL_ISSUER, LocalIssuer, TokenMinter, source_subject

    scripted, url = sink
    issuer = LocalIssuer.create(tmp_path / "eventing")
    spec = _spec(topic)
    assert spec.sink_audience
    minter = TokenMinter(str(issuer.key_file), LOCAL_ISSUER)
    source = LocalKafkaSource(spec, url, get_settings(), minter=minter)
    task = asyncio.create_task(source.run())
    try:
        await _produce(broker, topic, "signed")
        await _until(lambda: scripted.calls.get("signed"))
    finally:
        await _stop(task)
    scheme, _, token = scripted.calls["signed"][0]["Authorization"].partition(" ")
    assert scheme == "Bearer"
    [key] = jwt.PyJWKSet.from_json(issuer.jwks_file.read_text()).keys
    claims = jwt.decode(
        token, key.key, algorithms=["ES256"], audience=spec.sink_audience, issuer=LOCAL_ISSUER
    )
    assert claims["sub"] == source_subject(spec.namespace, spec.name, "KafkaSource")
    assert oct(issuer.key_file.stat().st_mode & 0o777) == "0o600"


async def test_ordered_delivers_each_partition_one_at_a_time_in_order(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    scripted.hold.add("a1")
    scripted.scripts["a2"] = [503]  # its retry keeps its place too
    spec = dataclasses.replace(_spec(topic), ordering="ordered")
    task = await _running(spec, url)
    try:
        await _produce_to_partitions(broker, topic, [("a1", 0), ("a2", 0), ("a3", 0), ("b1", 1)])
        # The other partition goes on while a1 holds its own.
        await _until(lambda: scripted.calls.get("a1") and scripted.calls.get("b1"))
        await asyncio.sleep(0.5)
        assert "a2" not in scripted.arrivals
        assert "a3" not in scripted.arrivals
        scripted.release.set()
        await _until(lambda: scripted.calls.get("a3"))
    finally:
        await _stop(task)
    assert [event for event in scripted.arrivals if event.startswith("a")] == [
        "a1",
        "a2",
        "a2",
        "a3",
    ]


async def test_unordered_delivers_a_partitions_records_side_by_side(
    broker: str, topic: str, sink: tuple[ScriptedSink, str]
) -> None:
    scripted, url = sink
    scripted.hold.add("u1")
    spec = _spec(topic)
    assert spec.ordering == "unordered"  # as the manifests say
    task = await _running(spec, url)
    try:
        await _produce_to_partitions(broker, topic, [("u1", 0), ("u2", 0)])
        # u2 is delivered while u1, before it on the same partition, is still held.
        await _until(lambda: scripted.calls.get("u1") and scripted.calls.get("u2"))
    finally:
        await _stop(task)


def test_an_unknown_ordering_is_refused() -> None:
    spec = dataclasses.replace(kafka_sources()[0], ordering="sorted")
    with pytest.raises(ValueError, match="ordering 'sorted'"):
        LocalKafkaSource(spec, "http://127.0.0.1:1/", get_settings())
