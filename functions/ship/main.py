"""ship: CONFIRMED -> SHIPPED, fired by `orders.order.confirmed` after the ship delay."""

import functions_framework.aio
from cloudevents.http import CloudEvent

from shared.flows.steps import SHIP, advance


@functions_framework.aio.cloud_event
async def ship(event: CloudEvent) -> None:
    await advance(SHIP, event)
