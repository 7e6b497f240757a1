import logging
import uuid

import orjson

from shared.logs import JsonFormatter


def test_a_log_line_is_one_json_object_with_the_order_and_event_ids() -> None:
    order_id, event_id = uuid.uuid4(), uuid.uuid4()
    record = logging.LogRecord(
        "orders.steps", logging.INFO, __file__, 1, "order %s: confirmed", (order_id,), None
    )
    record.order_id = order_id
    record.event_id = event_id
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["message"] == f"order {order_id}: confirmed"
    assert entry["order_id"] == str(order_id)
    assert entry["event_id"] == str(event_id)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "orders.steps"


def test_errors_keep_their_traceback_on_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["error"]
