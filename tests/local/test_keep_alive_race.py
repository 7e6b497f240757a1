"""A kept-alive connection the server drops just as the next request goes out loses nothing.

The sink here is a raw-socket HTTP server: on its first connection it answers the first
request, keeps the connection open, then reads the next request and closes without answering,
as a server does whose idle timeout fires while a request is on its way.
"""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import AIOKafkaProducer

from shared.domain.events import ALL_TOPICS
from shared.local.eventing import _keep_pinging
from shared.local.kafka_source import LocalKafkaSource
from shared.local.manifests import KafkaSourceSpec, kafka_sources, ping_sources
from shared.messaging.kafka import ensure_topics
from shared.settings import get_settings
from tests.kafka_support import wait_for_records


class DroppingSink:
    """HTTP/1.1 with keep-alive; the first connection is dropped at its second request."""

    def __init__(self) -> None:
        self.connections = 0
        self.received: list[str] = []
        self.answered: list[str] = []
        self.dropped: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first_connection = self.connections == 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1)
                    for line in head.decode("latin-1").split("\r\n")[1:]
                    if ": " in line
                )
                length = int(headers.get("Content-Length", headers.get("content-length", "0")))
                await reader.readexactly(length)
                event_id = headers.get("ce-id", "?")
                self.received.append(event_id)
                if first_connection and served == 1:
                    self.dropped.append(event_id)
                    return  # closed with the request unanswered
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                self.answered.append(event_id)
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def dropping_sink() -> AsyncIterator[tuple[DroppingSink, str]]:
    sink = DroppingSink()
    server = await asyncio.start_server(sink.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield sink, f"http://127.0.0.1:{port}/"
    server.close()


async def _until(condition: Callable[[], object], within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)


async def test_the_ping_loop_loses_no_ping_to_a_dropped_connection(
    dropping_sink: tuple[DroppingSink, str],
) -> None:
    sink, url = dropping_sink
    spec = ping_sources()[0]
    task = asyncio.create_task(_keep_pinging(spec, url, 0.05, None))
    try:
        await _until(lambda: len(sink.received) >= 5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sink.dropped == []
    assert len(sink.answered) == len(sink.received)


def _spec(topic: str) -> KafkaSourceSpec:
    base = kafka_sources()[0]
    # No retries at all: a delivery lost to the race would be dead-lettered.
    return dataclasses.replace(
        base,
        topics=(topic,),
        consumer_group=f"group-{topic}",
        delivery=dataclasses.replace(base.delivery, retry=0, backoff_delay=0.01, timeout=30),
    )


async def test_a_delivery_on_a_dropped_connection_is_sent_again_outside_the_retry_budget(
    broker: str, dropping_sink: tuple[DroppingSink, str]
) -> None:
    sink, url = dropping_sink
    topic = f"test.{uuid.uuid4().hex[:8]}"
    await ensure_topics(get_settings(), (topic, *ALL_TOPICS), partitions=1)
    task = asyncio.create_task(LocalKafkaSource(_spec(topic), url, get_settings()).run())
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        for event_id in ("first", "second", "third"):
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id.encode()),
                ("ce_type", b"t"),
                ("ce_source", b"/s"),
            ]
            await producer.send_and_wait(topic, b"{}", headers=headers)
            # One at a time, so that each goes out on the connection the previous one used.
            answered = sink.answered
            await _until(lambda: event_id in answered)  # noqa: B023 (awaited here)
    finally:
        await producer.stop()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sink.dropped == ["second"]  # the race did happen
    assert sink.answered == ["first", "second", "third"]
    assert await wait_for_records(broker, ("orders.dlq",), {"second"}, 1, within=1) == []
