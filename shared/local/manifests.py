"""The KafkaSource, KafkaSink and PingSource manifests under `knative/`, read as plain data.

The local stand-ins take their routes and delivery rules from these files, the same ones the
cluster applies.
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter

KNATIVE_DIR = Path(__file__).resolve().parent.parent.parent / "knative"
_DURATION = TypeAdapter(timedelta)


def iso_duration_seconds(text: str) -> float:
    """Seconds in an ISO 8601 duration such as PT0.5S or PT5M (the forms Knative accepts)."""
    try:
        if not text.startswith("P"):  # pydantic also takes "-PT1S", a negative span
            raise ValueError(text)
        return _DURATION.validate_python(text).total_seconds()
    except ValueError:  # pydantic's ValidationError is one
        raise ValueError(f"not an ISO 8601 duration: {text!r}") from None


@dataclass(frozen=True)
class Delivery:
    retry: int
    backoff_policy: str
    backoff_delay: float
    retry_after_max: float | None
    timeout: float
    dead_letter_topic: str

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (0-based), as Knative computes it."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * (attempt + 1)
        return float(self.backoff_delay * 2**attempt)


@dataclass(frozen=True)
class KafkaSourceSpec:
    name: str
    namespace: str
    topics: tuple[str, ...]
    consumer_group: str
    initial_offset: str
    ordering: str
    sink_service: str
    delivery: Delivery
    # The OIDC audience the source mints its token for (`spec.sink.audience`), if any.
    sink_audience: str | None = None


@dataclass(frozen=True)
class PingSourceSpec:
    name: str
    namespace: str
    data: str
    sink_service: str
    sink_audience: str | None = None


def load_documents(directory: Path = KNATIVE_DIR) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def _of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc.get("kind") == kind]


def kafka_sources(directory: Path = KNATIVE_DIR) -> list[KafkaSourceSpec]:
    documents = load_documents(directory)
    sink_topics = {
        doc["metadata"]["name"]: doc["spec"]["topic"] for doc in _of_kind(documents, "KafkaSink")
    }
    sources = []
    for doc in _of_kind(documents, "KafkaSource"):
        spec = doc["spec"]
        delivery = spec["delivery"]
        retry_after_max = delivery.get("retryAfterMax")
        sources.append(
            KafkaSourceSpec(
                name=doc["metadata"]["name"],
                namespace=doc["metadata"].get("namespace", "default"),
                topics=tuple(spec["topics"]),
                consumer_group=spec["consumerGroup"],
                initial_offset=spec.get("initialOffset", "latest"),
                ordering=spec.get("ordering", "ordered"),
                sink_service=spec["sink"]["ref"]["name"],
                sink_audience=spec["sink"].get("audience"),
                delivery=Delivery(
                    retry=delivery.get("retry", 0),
                    backoff_policy=delivery.get("backoffPolicy", "exponential"),
                    backoff_delay=iso_duration_seconds(delivery.get("backoffDelay", "PT0.2S")),
                    retry_after_max=iso_duration_seconds(retry_after_max)
                    if retry_after_max
                    else None,
                    timeout=iso_duration_seconds(delivery.get("timeout", "PT30S")),
                    dead_letter_topic=sink_topics[delivery["deadLetterSink"]["ref"]["name"]],
                ),
            )
        )
    return sources


def ping_sources(directory: Path = KNATIVE_DIR) -> list[PingSourceSpec]:
    return [
        PingSourceSpec(
            name=doc["metadata"]["name"],
            namespace=doc["metadata"].get("namespace", "default"),
            data=doc["spec"].get("data", ""),
            sink_service=doc["spec"]["sink"]["ref"]["name"],
            sink_audience=doc["spec"]["sink"].get("audience"),
        )
        for doc in _of_kind(load_documents(directory), "PingSource")
    ]


def service_env(directory: Path = KNATIVE_DIR) -> dict[str, dict[str, str]]:
    """Knative Service name -> the literal `env` values of its container."""
    return {
        doc["metadata"]["name"]: {
            entry["name"]: entry["value"]
            for container in doc["spec"]["template"]["spec"]["containers"]
            for entry in container.get("env", [])
            if "value" in entry
        }
        for doc in _of_kind(load_documents(directory), "Service")
    }
