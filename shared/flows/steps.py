"""One lifecycle step as a CloudEvent handler: wait out the delay, then move the order on.

The move is a conditional update plus the next event in the outbox, in one transaction, so
duplicates, replays and racing replicas change an order once and announce it once. The next
event is the moved row: the incoming event names the order and nothing more.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cloudevents.http import CloudEvent
from starlette.exceptions import HTTPException

from shared.domain.events import SOURCES, valid_traceparent
from shared.domain.lifecycle import OrderStatus, Transition, transition_to
from shared.domain.orders import Outcome
from shared.messaging.publisher import get_publisher
from shared.metrics import EVENT_HANDLING, EVENTS_HANDLED
from shared.settings import Settings, get_settings
from shared.store import order_moves
from shared.store.db import DatabaseUnavailable, get_database
from shared.store.order_moves import Move

log = logging.getLogger("orders.steps")


# A step is one transition of the lifecycle (`shared/domain/lifecycle.py`): the event it
# accepts, the status it reaches, the event announcing it, its delay.
Step = Transition
CONFIRM = transition_to(OrderStatus.CONFIRMED)
SHIP = transition_to(OrderStatus.SHIPPED)


@dataclass(frozen=True)
class AcceptedEvent:
    id: str
    order_id: UUID
    time: datetime
    traceparent: str | None


def refuse(detail: str) -> HTTPException:
    """400: KafkaSource sends this event straight to the dead-letter sink."""
    return HTTPException(400, detail=detail)


def retry_later(detail: str, settings: Settings) -> HTTPException:
    """503: KafkaSource retries it with its own backoff (its data plane ignores `Retry-After`,
    which is for any other sender)."""
    return HTTPException(
        503, detail=detail, headers={"Retry-After": str(settings.retry_after_seconds)}
    )


def accept(step: Step, event: CloudEvent) -> AcceptedEvent:
    """The parts of `event` this step needs, or a 400 naming what is wrong with it."""
    if event.get("specversion") != "1.0":
        raise refuse(f"specversion must be 1.0, not {event.get('specversion')!r}")
    if event.get("type") != step.accepts:
        raise refuse(f"this function handles {step.accepts}, not {event.get('type')!r}")
    if event.get("source") != SOURCES[step.accepts]:
        raise refuse(
            f"{step.accepts} comes from {SOURCES[step.accepts]}, not {event.get('source')!r}"
        )
    try:
        order_id = UUID(str(event.get("subject")))
    except ValueError:
        raise refuse(f"subject must be an order id, not {event.get('subject')!r}") from None
    try:
        occurred = datetime.fromisoformat(str(event.get("time")))
    except ValueError:
        raise refuse(f"time must be an RFC 3339 timestamp, not {event.get('time')!r}") from None
    if occurred.tzinfo is None:
        raise refuse("time must carry a UTC offset")
    data = event.data
    if not isinstance(data, dict) or data.get("id") != str(order_id):
        raise refuse("data must be the order (a JSON object whose id is the subject)")
    return AcceptedEvent(
        str(event["id"]), order_id, occurred, valid_traceparent(event.get("traceparent"))
    )


async def wait_out_delay(step: Step, occurred: datetime, settings: Settings) -> None:
    """Sleep until event time + delay, so a redelivery does not wait twice."""
    delay = step.delay(settings)
    remaining = (occurred.timestamp() + delay) - time.time()
    if remaining > 0:
        await asyncio.sleep(min(remaining, delay))


async def advance(step: Step, event: CloudEvent) -> Outcome:
    """Handle one CloudEvent; returns the outcome: applied, duplicate or obsolete."""
    started = time.perf_counter()
    accepted = accept(step, event)
    settings = get_settings()
    await wait_out_delay(step, accepted.time, settings)
    try:
        # Whatever the row holds moves (the event's data may be stale or forged: only its
        # order id counts), and the moved row is announced.
        moved = await order_moves.advance(
            get_database(), step, Move(accepted.order_id, accepted.traceparent)
        )
    except DatabaseUnavailable as exc:
        EVENTS_HANDLED.labels(step.accepts, Outcome.RETRY).inc()
        log.warning(
            "%s, asking for a redelivery: %s",
            exc.reason,
            exc,
            extra={"order_id": accepted.order_id, "event_id": accepted.id},
        )
        raise retry_later(exc.reason, settings) from exc
    if moved.event is not None:
        get_publisher().submit(moved.event)
    outcome = moved.outcome
    EVENTS_HANDLED.labels(step.accepts, outcome).inc()
    EVENT_HANDLING.labels(step.accepts).observe(time.perf_counter() - started)
    applied = outcome is Outcome.APPLIED
    # ORDER_LOG_LEVEL (DEBUG) for the common case: a line per step costs a tenth of its CPU.
    log.log(
        settings.order_log_levelno if applied else logging.INFO,
        "order %s: %s",
        step.reaches.lower() if applied else f"{outcome} {step.accepts}",
        accepted.order_id,
        extra={"order_id": accepted.order_id, "event_id": accepted.id, "outcome": outcome},
    )
    return outcome
