"""confirm: CREATED -> CONFIRMED, fired by `orders.order.created` after the confirm delay."""

from shared.cloudevent import CloudEvent
from shared.function_app import cloud_event
from shared.steps import CONFIRM, advance


@cloud_event
async def confirm(event: CloudEvent) -> None:
    await advance(CONFIRM, event)
