"""Prometheus metrics every function exposes on `/metrics`."""

from functools import lru_cache

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "orders_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "orders_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


@lru_cache(maxsize=512)
def _request_series(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    # prometheus_client's labels() validates and locks on every call: 2.5 µs of each request.
    return HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route, method)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    requests, latency = _request_series(route, method, status)
    requests.inc()
    latency.observe(seconds)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


EVENTS_HANDLED = Counter("orders_events_handled_total", "CloudEvents handled", ["type", "outcome"])
EVENT_HANDLING = Histogram(
    "orders_event_handling_seconds",
    "Time to handle a CloudEvent, its delay included",
    ["type"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
EVENTS_PUBLISHED = Counter(
    "orders_events_published_total", "Events acknowledged by Kafka", ["type"]
)
PUBLISH_FAILURES = Counter(
    "orders_publish_failures_total", "Events whose first publish failed (left to the relay)"
)
OUTBOX_UPKEEP_POSTPONED = Counter(
    "orders_outbox_upkeep_postponed_total",
    "Outbox partition upkeeps left to the next sweep: a lock was busy, or an error",
    ["reason"],
)
OUTBOX_BACKLOG = Gauge("orders_outbox_backlog", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "orders_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event"
)
