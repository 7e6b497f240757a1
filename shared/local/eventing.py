"""`orders dispatch`: Knative Eventing on one machine, from the manifests under `knative/`.

Every KafkaSource gets a local stand-in; every PingSource becomes a timer that POSTs the same
CloudEvent a PingSource would (every `RELAY_INTERVAL_SECONDS` rather than its cron schedule).
"""

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import aiohttp

from shared.local.kafka_source import LocalKafkaSource, local_connector
from shared.local.manifests import KafkaSourceSpec, PingSourceSpec, kafka_sources, ping_sources
from shared.local.topology import sink_urls
from shared.settings import Settings

log = logging.getLogger("orders.eventing")


def ping_headers(spec: PingSourceSpec) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": "dev.knative.sources.ping",
        "ce-source": f"/apis/v1/namespaces/{spec.namespace}/pingsources/{spec.name}",
        "ce-time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }


async def _keep_consuming(spec: KafkaSourceSpec, sink_url: str, settings: Settings) -> None:
    while True:
        try:
            await LocalKafkaSource(spec, sink_url, settings).run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broker gone: start over; uncommitted records come again
            log.warning("source %s stopped (%r); restarting", spec.name, exc)
            await asyncio.sleep(1)


async def _keep_pinging(spec: PingSourceSpec, sink_url: str, interval: float) -> None:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=local_connector()) as http:
        while True:
            await asyncio.sleep(interval)
            try:
                async with http.post(
                    sink_url, data=spec.data, headers=ping_headers(spec)
                ) as answer:
                    if answer.status >= 300:
                        log.warning("%s answered %s", spec.sink_service, answer.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("ping to %s failed: %r", spec.sink_service, exc)


async def run_eventing(settings: Settings) -> None:
    urls = sink_urls()
    tasks = [_keep_consuming(spec, urls[spec.sink_service], settings) for spec in kafka_sources()]
    tasks += [
        _keep_pinging(spec, urls[spec.sink_service], settings.relay_interval_seconds)
        for spec in ping_sources()
    ]
    await asyncio.gather(*tasks)
