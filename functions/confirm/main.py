"""confirm: CREATED -> CONFIRMED, fired by `orders.order.created` after the confirm delay."""

import functions_framework.aio
from cloudevents.http import CloudEvent

from shared.flows.steps import CONFIRM, advance


@functions_framework.aio.cloud_event
async def confirm(event: CloudEvent) -> None:
    await advance(CONFIRM, event)
