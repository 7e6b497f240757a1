"""Kafka clients configured from the settings (bootstrap servers, TLS, SASL), and sending
many messages at once."""

import asyncio
import ssl
from collections.abc import Awaitable, Sequence
from typing import Any, NamedTuple, Protocol

from shared.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def producer_options(settings: Settings) -> dict[str, Any]:
    return {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": settings.kafka_enable_idempotence,
        # A dead broker must fail a send in seconds, so the caller can leave it to the relay.
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "linger_ms": 1,
    }


async def ensure_topics(settings: Settings, topics: tuple[str, ...], partitions: int) -> None:
    """Create the topics that do not exist yet (locally; on a cluster, KafkaTopics do this)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, 1) for t in topics if t not in existing]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


# aiokafka ships no type information: these say what this code uses of its objects.


class Producer(Protocol):
    """An aiokafka `AIOKafkaProducer`."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> Awaitable[object]:
        """Queues the message; the awaitable answered is the broker's acknowledgement."""
        ...

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> object: ...


class Record(Protocol):
    """An aiokafka `ConsumerRecord` of bytes."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


class Message(NamedTuple):
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


async def send_all(producer: Producer, messages: Sequence[Message]) -> None:
    """Send `messages`, in order, and wait until the broker acknowledged them all. aiokafka
    gathers them into one batch per partition (its default partitioner's, by key)."""
    acknowledgements = [
        await producer.send(m.topic, m.value, key=m.key, headers=m.headers) for m in messages
    ]
    await asyncio.gather(*acknowledgements)
