"""`orders dispatch`: Knative Eventing on one machine, from the manifests under `knative/`.

Every KafkaSource gets a local stand-in; every PingSource becomes a timer that POSTs the same
CloudEvent a PingSource would (every `RELAY_INTERVAL_SECONDS` rather than its cron schedule).
With EVENT_AUTH_SIGNING_KEY_FILE (`make dev` sets it), each delivery carries a token for its
source's `sink.audience`, as Knative's sources do with `authentication-oidc` on.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from shared.local.kafka_source import LocalKafkaSource
from shared.local.manifests import KafkaSourceSpec, PingSourceSpec, kafka_sources, ping_sources
from shared.local.signing import TokenMinter, source_subject
from shared.local.sink_http import local_connector
from shared.local.topology import sink_urls
from shared.settings import Settings

log = logging.getLogger("orders.eventing")


def ping_headers(spec: PingSourceSpec, minter: TokenMinter | None = None) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": "dev.knative.sources.ping",
        "ce-source": f"/apis/v1/namespaces/{spec.namespace}/pingsources/{spec.name}",
        "ce-time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    if minter is not None and spec.sink_audience:
        subject = source_subject(spec.namespace, spec.name, "PingSource")
        headers["Authorization"] = f"Bearer {minter.token(spec.sink_audience, subject)}"
    return headers


async def _keep_consuming(
    spec: KafkaSourceSpec,
    sink_url: str,
    settings: Settings,
    minter: TokenMinter | None,
    consuming: asyncio.Event,
) -> None:
    while True:
        try:
            source = LocalKafkaSource(spec, sink_url, settings, minter=minter, consuming=consuming)
            await source.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broker gone: start over; uncommitted records come again
            log.warning("source %s stopped (%r); restarting", spec.name, exc)
            await asyncio.sleep(1)


async def _keep_pinging(
    spec: PingSourceSpec, sink_url: str, interval: float, minter: TokenMinter | None
) -> None:
    timeout = aiohttp.ClientTimeout(total=120)
    # A connection per ping: one kept alive between pings sits idle as long as the server's
    # idle timeout allows, and a ping sent as the server closes it was lost (about one in six).
    connector = local_connector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        while True:
            await asyncio.sleep(interval)
            try:
                async with http.post(
                    sink_url, data=spec.data, headers=ping_headers(spec, minter)
                ) as answer:
                    if answer.status >= 300:
                        log.warning("%s answered %s", spec.sink_service, answer.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("ping to %s failed: %r", spec.sink_service, exc)


def _minter(settings: Settings) -> TokenMinter | None:
    """With a signing key (`make dev` passes one), deliveries carry tokens as Knative's would."""
    if not settings.event_auth_signing_key_file:
        return None
    if not settings.event_auth_issuer:
        raise SystemExit("EVENT_AUTH_SIGNING_KEY_FILE needs EVENT_AUTH_ISSUER")
    return TokenMinter(settings.event_auth_signing_key_file, settings.event_auth_issuer)


async def _tell_when_consuming(events: list[asyncio.Event], on_ready: Callable[[], None]) -> None:
    for event in events:
        await event.wait()
    on_ready()


async def run_eventing(settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    """Run every source until cancelled; `on_ready` is called once each KafkaSource consumes
    (its consumer group gave it its partitions)."""
    urls = sink_urls()
    minter = _minter(settings)
    specs = kafka_sources()
    consuming = [asyncio.Event() for _ in specs]
    tasks = [
        _keep_consuming(spec, urls[spec.sink_service], settings, minter, event)
        for spec, event in zip(specs, consuming, strict=True)
    ]
    tasks += [
        _keep_pinging(spec, urls[spec.sink_service], settings.relay_interval_seconds, minter)
        for spec in ping_sources()
    ]
    if on_ready is not None:
        tasks.append(_tell_when_consuming(consuming, on_ready))
    await asyncio.gather(*tasks)
