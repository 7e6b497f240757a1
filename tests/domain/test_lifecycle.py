"""The lifecycle table (`shared/domain/lifecycle.py`), and every place that must know each status."""

import re
from dataclasses import fields

import asyncpg
import pytest

from functions.orders_http.asyncapi_channels import CONSUMERS
from shared.domain.events import SOURCES, TOPICS
from shared.domain.lifecycle import (
    LIFECYCLE,
    NEXT_STATUS,
    STATUS_CHECK,
    TRANSITIONS,
    OrderStatus,
    Stage,
    Transition,
    is_editable,
    previous_status,
)
from shared.domain.orders import Order
from shared.domain.schemas import OrderOut
from shared.local.manifests import kafka_sources, load_documents, service_env
from shared.settings import Settings
from shared.store import models
from shared.store.order_store import ORDER_COLUMNS
from tests.support import ROOT

MIGRATIONS = ROOT / "alembic" / "versions"


def test_an_order_moves_created_confirmed_shipped_and_stops() -> None:
    assert NEXT_STATUS[OrderStatus.CREATED] is OrderStatus.CONFIRMED
    assert NEXT_STATUS[OrderStatus.CONFIRMED] is OrderStatus.SHIPPED
    assert OrderStatus.SHIPPED not in NEXT_STATUS


def test_previous_status() -> None:
    assert previous_status(OrderStatus.CONFIRMED) is OrderStatus.CREATED
    assert previous_status(OrderStatus.SHIPPED) is OrderStatus.CONFIRMED
    with pytest.raises(ValueError, match="no transition"):
        previous_status(OrderStatus.CREATED)


def test_only_created_orders_are_editable() -> None:
    assert [s for s in OrderStatus if is_editable(s)] == [OrderStatus.CREATED]


# A new status cannot be half-added: each test below walks one place that must know every
# status of the table, and names the status and the place it is missing from.


def test_every_status_has_one_row_in_the_table() -> None:
    assert [stage.status for stage in LIFECYCLE] == list(OrderStatus), (
        "shared/domain/lifecycle.py: LIFECYCLE must list every OrderStatus once, in lifecycle order"
    )
    assert LIFECYCLE[0].delay is None, "the first status is reached by a request, not a step"


def _function(transition: Transition) -> str:
    """The function that makes the step: the source of the event announcing it."""
    return SOURCES[transition.announces].removeprefix("/orders/")


@pytest.mark.parametrize("stage", LIFECYCLE, ids=lambda stage: str(stage.status))
def test_events_py_has_the_type_topic_and_source_announcing_each_status(stage: Stage) -> None:
    assert stage.announced_by in TOPICS, f"shared/domain/events.py: TOPICS has no topic for {stage}"
    assert stage.announced_by in SOURCES, (
        f"shared/domain/events.py: SOURCES has no source for {stage}"
    )
    topics = {
        doc["spec"]["topicName"] for doc in load_documents() if doc.get("kind") == "KafkaTopic"
    }
    assert stage.topic in topics, f"knative/kafka-topics.yaml: no KafkaTopic {stage.topic}"


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: str(t.reaches))
def test_settings_name_each_steps_delay(transition: Transition) -> None:
    setting = f"{_function(transition)}_delay_seconds"
    assert setting in Settings.model_fields, (
        f"shared/settings.py: no {setting} for {transition.reaches}"
    )
    assert transition.delay(Settings.model_validate({setting: 1.25})) == 1.25, (
        f"shared/domain/lifecycle.py: the delay of {transition.reaches} must read {setting}"
    )
    terraform = (ROOT / "terraform" / "app" / "manifests.tf").read_text()
    assert f"{setting.upper()} " in terraform, f"terraform/app/manifests.tf: no {setting.upper()}"


@pytest.mark.parametrize("stage", LIFECYCLE, ids=lambda stage: str(stage.status))
def test_each_status_has_its_time_column_everywhere(stage: Stage) -> None:
    column = stage.time_column
    table = models.Order.__table__.columns.keys()  # type: ignore[attr-defined]
    assert column in table, f"shared/store/models.py: the orders table has no {column}"
    assert column in {field.name for field in fields(Order)}, (
        f"shared/domain/orders.py: Order has no field {column}"
    )
    assert column in ORDER_COLUMNS, f"shared/store/order_store.py: ORDER_COLUMNS has no {column}"
    assert column in OrderOut.model_fields, f"shared/domain/schemas.py: OrderOut has no {column}"
    migrated = "".join(path.read_text() for path in sorted(MIGRATIONS.glob("*.py")))
    assert f'"{column}"' in migrated, f"alembic/versions: no migration adds orders.{column}"


def test_the_models_check_constraint_is_the_migrated_one() -> None:
    """The migration must not change, so the derived constraint must equal what it wrote."""
    migration = (MIGRATIONS / "0001_orders.py").read_text()
    written = re.search(r'"(status IN \([^)]*\))", name="ck_orders_status_known"', migration)
    assert written is not None
    assert written[1] == STATUS_CHECK, (
        "a new status needs a migration replacing ck_orders_status_known with "
        f"{STATUS_CHECK!r} (alembic/versions), and this test pointed at it"
    )


async def test_the_database_allows_every_status_and_has_every_time_column(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        check = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conname = 'ck_orders_status_known'"
        )
        columns = await conn.fetchval(
            "SELECT array_agg(column_name::text) FROM information_schema.columns"
            " WHERE table_name = 'orders'"
        )
    finally:
        await conn.close()
    assert re.findall(r"'(\w+)'::text", check) == [stage.status.value for stage in LIFECYCLE]
    assert {stage.time_column for stage in LIFECYCLE} <= set(columns)


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: str(t.reaches))
def test_each_step_has_its_function_kafka_source_and_consumer(transition: Transition) -> None:
    function = _function(transition)
    assert (ROOT / "functions" / function / "main.py").is_file(), f"no functions/{function}"
    assert function in service_env(), f"knative/services.yaml: no Knative Service {function}"
    feeding = [
        source
        for source in kafka_sources()
        if transition.leaving.topic in source.topics and source.sink_service == function
    ]
    assert feeding, (
        f"knative/kafka-sources.yaml: no KafkaSource carries {transition.leaving.topic} "
        f"to {function}"
    )
    consumer = CONSUMERS.get(transition.accepts)
    where = f"functions/orders_http/asyncapi_channels.py: CONSUMERS must send {transition.accepts}"
    assert consumer is not None, where
    assert consumer.function == function, f"{where} to {function}"
    assert consumer.kafka_source in {source.name for source in feeding}
