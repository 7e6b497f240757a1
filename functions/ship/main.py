"""ship: CONFIRMED -> SHIPPED, fired by `orders.order.confirmed` after the ship delay."""

from shared.cloudevent import CloudEvent
from shared.function_app import cloud_event
from shared.steps import SHIP, advance


@cloud_event
async def ship(event: CloudEvent) -> None:
    await advance(SHIP, event)
