"""A local stand-in for Knative's KafkaSource, driven by its manifest.

Per source: one consumer group; each record is POSTed to the sink as a binary-mode CloudEvent
(made by the CloudEvents SDK: `source_events`), as the manifest's `ordering` says: `unordered`,
many at once; `ordered`, one at a time per partition, in offset order (a record's delivery,
retries and dead-lettering included, ends before the next one's begins), partitions side by
side. 5xx, 404, 408, 409, 429 and network
errors are retried with the manifest's backoff; anything else, or a record that exhausts its
retries, goes to the dead-letter topic with Knative's error attributes. A kept-alive connection
the function closed as a delivery went out on it (its idle timeout raced the request) is no
failure of the function: that delivery is sent again at once on a new connection, outside the
retry budget (at least once, as always). An offset is committed only once every record below it
is done, so a crash redelivers what was in flight and skips nothing.
"""

import asyncio
import logging

import aiohttp

from shared.local import source_events
from shared.local.kafka_source_offsets import (
    Partition,
    PartitionProgress,
    _Consumer,
    _ForgetRevoked,
)
from shared.local.manifests import KafkaSourceSpec
from shared.local.signing import TokenMinter, source_subject
from shared.local.sink_http import is_retryable, local_connector, lost_to_a_closed_connection
from shared.messaging.kafka import Producer, Record
from shared.settings import Settings

ORDERINGS = ("ordered", "unordered")
log = logging.getLogger("orders.kafka_source")


class LocalKafkaSource:
    def __init__(
        self,
        spec: KafkaSourceSpec,
        sink_url: str,
        settings: Settings,
        max_in_flight: int = 1000,
        minter: TokenMinter | None = None,
        consuming: asyncio.Event | None = None,
    ) -> None:
        self.spec = spec
        self.sink_url = sink_url
        self.settings = settings
        # As Knative with `authentication-oidc`: a token only when the sink names an audience.
        self._minter = minter if spec.sink_audience else None
        self._subject = source_subject(spec.namespace, spec.name, "KafkaSource")
        if spec.ordering not in ORDERINGS:
            raise ValueError(
                f"KafkaSource {spec.name}: ordering {spec.ordering!r} is not one of {ORDERINGS}"
            )
        self._ordered = spec.ordering == "ordered"
        # Ordered: the delivery of each partition's latest record, which the next one waits for.
        self._last: dict[Partition, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self._progress: dict[Partition, PartitionProgress] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Set once the group has given this source its partitions: from then on it consumes.
        self.consuming = consuming or asyncio.Event()

    async def run(self) -> None:
        """Consume until cancelled. A stop abandons the deliveries in flight without committing
        them (the committer stops first): the next consumer of the group gets them again."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        from shared.messaging.kafka import client_options, producer_options

        consumer = AIOKafkaConsumer(
            group_id=self.spec.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset=self.spec.initial_offset,
            **client_options(self.settings),
        )
        self._dead_letters: Producer = AIOKafkaProducer(**producer_options(self.settings))
        timeout = aiohttp.ClientTimeout(total=self.spec.delivery.timeout)
        # Idle connections are let go a second before the functions' keep-alive would close
        # them, which makes the race rare; a delivery that still meets it goes out again on a
        # connection of its own (`fresh`, never reused).
        idle = max(0.5, self.settings.keep_alive_seconds - 1.0)
        async with (
            aiohttp.ClientSession(
                timeout=timeout, connector=local_connector(limit=0, keepalive_timeout=idle)
            ) as http,
            aiohttp.ClientSession(
                timeout=timeout, connector=local_connector(limit=0, force_close=True)
            ) as fresh,
        ):
            self._http = http
            self._fresh = fresh
            try:
                await self._dead_letters.start()
                await consumer.start()
                listener = _ForgetRevoked(self._progress, self.consuming)
                consumer.subscribe(list(self.spec.topics), listener=listener)
                committer = asyncio.create_task(self._commit_periodically(consumer))
                record: Record
                try:
                    async for record in consumer:
                        await self._slots.acquire()
                        tp = (record.topic, record.partition)
                        self._progress.setdefault(tp, PartitionProgress()).started(record.offset)
                        after = self._last.get(tp) if self._ordered else None
                        task = asyncio.create_task(self._deliver(record, tp, after))
                        if self._ordered:
                            self._last[tp] = task
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                finally:
                    committer.cancel()
                    tasks = [committer, *self._tasks]
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                # Closed in every case, a start cut short too: an unclosed client is an ERROR.
                await consumer.stop()
                await self._dead_letters.stop()

    async def _commit_periodically(self, consumer: _Consumer) -> None:
        from aiokafka import TopicPartition
        from aiokafka.errors import KafkaError

        committed: dict[Partition, int] = {}
        while True:
            await asyncio.sleep(0.2)
            offsets = {}
            for tp, progress in self._progress.items():
                offset = progress.committable()
                if offset is not None and committed.get(tp) != offset:
                    offsets[tp] = offset
            if not offsets:
                continue
            try:
                await consumer.commit({TopicPartition(*tp): o for tp, o in offsets.items()})
                committed.update(offsets)
            except KafkaError as exc:  # e.g. a rebalance took the partition: it is redelivered
                log.warning("commit failed: %r", exc)

    async def _deliver(
        self, record: Record, tp: Partition, after: asyncio.Task[None] | None = None
    ) -> None:
        """Deliver `record`, once `after` (the delivery before it, when ordered) has ended."""
        try:
            if after is not None:
                await asyncio.wait([after])
            request = source_events.delivery(record, self.spec)
            delivery = self.spec.delivery
            attempt = 0
            while True:
                status, body, retry_after = await self._post(request.headers, request.body)
                if status is not None and 200 <= status < 300:
                    return
                if not is_retryable(status) or attempt >= delivery.retry:
                    await self._dead_letter(record.key, request.event, status, body)
                    return
                wait = delivery.backoff(attempt)
                if (
                    retry_after is not None
                    and delivery.retry_after_max is not None
                    and status in (429, 503)
                ):
                    wait = max(wait, min(retry_after, delivery.retry_after_max))
                attempt += 1
                await asyncio.sleep(wait)
        finally:
            progress = self._progress.get(tp)
            if progress is not None:
                progress.in_flight.discard(record.offset)
            self._slots.release()

    async def _post(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int | None, bytes, float | None]:
        if self._minter is not None and self.spec.sink_audience:
            # Minted per attempt: retries can outlast a token.
            token = self._minter.token(self.spec.sink_audience, self._subject)
            headers = {**headers, "Authorization": f"Bearer {token}"}
        try:
            try:
                return await self._post_on(self._http, headers, body)
            except aiohttp.ClientError as exc:
                if not lost_to_a_closed_connection(exc):
                    raise
                log.info("connection closed under a delivery (%r); sending it again", exc)
                return await self._post_on(self._fresh, headers, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, repr(exc).encode(), None

    async def _post_on(
        self, http: aiohttp.ClientSession, headers: dict[str, str], body: bytes
    ) -> tuple[int | None, bytes, float | None]:
        async with http.post(self.sink_url, data=body, headers=headers) as response:
            retry_after = response.headers.get("retry-after", "")
            seconds = float(retry_after) if retry_after.isdigit() else None
            return response.status, await response.read(), seconds

    async def _dead_letter(
        self, key: bytes | None, event: source_events.AsRecorded, status: int | None, body: bytes
    ) -> None:
        letter = source_events.dead_letter(event, key, self.sink_url, status, body)
        headers = list(letter.headers.items())
        # The SDK's message allows text; its key mapper and marshaller here answer bytes.
        value = letter.value.encode() if isinstance(letter.value, str) else letter.value
        key = letter.key.encode() if isinstance(letter.key, str) else letter.key
        while True:  # a dead letter is never dropped: keep it in flight until the broker takes it
            try:
                await self._dead_letters.send_and_wait(
                    self.spec.delivery.dead_letter_topic, value, key=key, headers=headers
                )
                log.warning(
                    "dead-lettered %s (status %s)",
                    event.get("id"),
                    status,
                    extra={"event_id": event.get("id"), "event_type": event.get("type")},
                )
                return
            except Exception as exc:
                log.warning("dead-letter publish failed, retrying: %r", exc)
                await asyncio.sleep(1)
