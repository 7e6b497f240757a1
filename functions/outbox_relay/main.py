"""outbox_relay: fired by a PingSource; publishes stale outbox rows and re-drives stalled orders."""

import functions_framework.aio
from cloudevents.http import CloudEvent
from starlette.exceptions import HTTPException

from shared.domain.orders import Outcome
from shared.flows.relay import overdue_after, sweep
from shared.flows.steps import retry_later
from shared.messaging.publisher import BrokerUnavailable, get_publisher
from shared.metrics import EVENTS_HANDLED
from shared.settings import get_settings
from shared.store.db import DatabaseUnavailable, get_database

PING_TYPE = "dev.knative.sources.ping"


def is_ping(event: CloudEvent) -> bool:
    source = event.get("source")
    return (
        event.get("type") == PING_TYPE
        and isinstance(source, str)
        and source.startswith("/apis/v1/namespaces/")
        and "/pingsources/" in source
    )


@functions_framework.aio.cloud_event
async def outbox_relay(event: CloudEvent) -> None:
    if not is_ping(event):
        raise HTTPException(400, detail=f"this function handles {PING_TYPE} from a PingSource")
    settings = get_settings()
    try:
        await sweep(settings, get_database(), get_publisher(), overdue_after(settings))
    except (DatabaseUnavailable, BrokerUnavailable) as exc:
        EVENTS_HANDLED.labels(PING_TYPE, Outcome.RETRY).inc()
        raise retry_later(f"relay could not finish: {exc}", settings) from exc
    EVENTS_HANDLED.labels(PING_TYPE, Outcome.APPLIED).inc()
