"""`orders watch` against the real embedded broker: each event on an `orders.*` topic, a line."""

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.domain.events import TOPICS, EventType
from tests.support import ROOT


async def _publish(broker: str, event_type: EventType, key: str, data: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", uuid.uuid4().hex.encode()),
            ("ce_type", event_type.value.encode()),
            ("ce_source", b"/orders/test"),
            ("ce_subject", key.encode()),
            ("content-type", b"application/json"),
        ]
        value = json.dumps(data).encode()
        await producer.send_and_wait(TOPICS[event_type], value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


def _lines(stream: Any) -> "queue.Queue[str]":
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _line_with_key(lines: "queue.Queue[str]", key: str, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        entry: dict[str, Any] = json.loads(line)
        if entry["key"] == key:
            return entry


def test_watch_prints_each_event_with_its_attributes(broker: str) -> None:
    before, after = str(uuid.uuid4()), str(uuid.uuid4())
    asyncio.run(_publish(broker, EventType.CREATED, before, {"id": before, "n": 1}))
    watch = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "watch", "--from-beginning"],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _lines(watch.stdout)
        first = _line_with_key(lines, before)
        asyncio.run(_publish(broker, EventType.SHIPPED, after, {"id": after}))
        second = _line_with_key(lines, after)
    finally:
        watch.send_signal(signal.SIGINT)
        _, errors = watch.communicate(timeout=30)
    assert watch.returncode == 0, errors
    assert "watching" in errors
    assert first["topic"] == "orders.created"
    assert first["ce"]["type"] == "orders.order.created"
    assert first["ce"]["subject"] == before
    assert first["ce"]["source"] == "/orders/test"
    assert first["headers"] == {"content-type": "application/json"}
    assert first["data"] == {"id": before, "n": 1}
    assert isinstance(first["offset"], int)
    assert second["topic"] == "orders.shipped"
    assert second["ce"]["type"] == "orders.order.shipped"
    assert second["data"] == {"id": after}
