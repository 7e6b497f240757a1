"""The order lifecycle, said once: one table of the statuses an order passes through, in order,
and everything else that knows a status derives from it (the steps, the relay's overdue rule,
the SQL, the API documents' enums, the check constraint; `tests/domain/test_lifecycle.py` walks the
places that must agree with it, so a status cannot be half-added).

Each status after the first is reached by one step, fired by the event announcing the status
before it, once its delay (a setting) has passed since that event.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import TYPE_CHECKING

from shared.domain.events import TOPICS, EventType

if TYPE_CHECKING:
    from shared.settings import Settings


class OrderStatus(StrEnum):
    CREATED = "CREATED"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"


Delay = Callable[["Settings"], float]


@dataclass(frozen=True)
class Stage:
    """One status: the event announcing it, and how long after the event announcing the status
    before it an order reaches it (None for the first, which a request reaches)."""

    status: OrderStatus
    announced_by: EventType
    delay: Delay | None

    @property
    def topic(self) -> str:
        return TOPICS[self.announced_by]

    @property
    def time_column(self) -> str:
        """The column (and the order's field) holding when the order reached this status."""
        return f"{self.status.lower()}_at"


LIFECYCLE: tuple[Stage, ...] = (
    Stage(OrderStatus.CREATED, EventType.CREATED, None),
    Stage(OrderStatus.CONFIRMED, EventType.CONFIRMED, lambda s: s.confirm_delay_seconds),
    Stage(OrderStatus.SHIPPED, EventType.SHIPPED, lambda s: s.ship_delay_seconds),
)
STAGES: dict[OrderStatus, Stage] = {stage.status: stage for stage in LIFECYCLE}


@dataclass(frozen=True)
class Transition:
    """One step: an order at `leaves` moves on to `reaches`, fired by the event that announced
    `leaves` (`accepts`), after `reaches`'s delay; the move is announced by `announces`."""

    leaving: Stage
    reaching: Stage

    @property
    def leaves(self) -> OrderStatus:
        return self.leaving.status

    @property
    def reaches(self) -> OrderStatus:
        return self.reaching.status

    @property
    def accepts(self) -> EventType:
        return self.leaving.announced_by

    @property
    def announces(self) -> EventType:
        return self.reaching.announced_by

    def delay(self, settings: "Settings") -> float:
        delay = self.reaching.delay
        if delay is None:
            raise ValueError(f"{self.reaches} names no delay")
        return delay(settings)


TRANSITIONS: tuple[Transition, ...] = tuple(
    Transition(leaving, reaching) for leaving, reaching in pairwise(LIFECYCLE)
)
NEXT_STATUS: dict[OrderStatus, OrderStatus] = {t.leaves: t.reaches for t in TRANSITIONS}
# Statuses with a step still ahead: an order there is on its way.
IN_FLIGHT: tuple[OrderStatus, ...] = tuple(t.leaves for t in TRANSITIONS)
# The order's time column of each status, in lifecycle order (`created_at` first).
TIME_COLUMNS: tuple[str, ...] = tuple(stage.time_column for stage in LIFECYCLE)

EDITABLE_STATUSES: frozenset[OrderStatus] = frozenset({OrderStatus.CREATED})


def transition_to(status: OrderStatus) -> Transition:
    """The step that reaches `status`."""
    for transition in TRANSITIONS:
        if transition.reaches is status:
            return transition
    raise ValueError(f"no transition leads to {status}")


def previous_status(status: OrderStatus) -> OrderStatus:
    """The only status an order may leave to reach `status`."""
    return transition_to(status).leaves


def is_editable(status: OrderStatus) -> bool:
    return status in EDITABLE_STATUSES


def sql_literals(statuses: tuple[OrderStatus, ...]) -> str:
    """`'CREATED', 'CONFIRMED'`: statuses as SQL string literals (their names need no escaping)."""
    return ", ".join(f"'{status.value}'" for status in statuses)


# The check constraint on `orders.status` (the model's, and migration 0001's: a test compares).
STATUS_CHECK = f"status IN ({sql_literals(tuple(stage.status for stage in LIFECYCLE))})"
