"""The README's capacity model quotes the deployment's defaults it is computed against: each
figure it names is the one the manifests, Terraform and settings hold."""

import re

import yaml

from shared.domain.events import TOPICS
from shared.settings import Settings
from tests.support import ROOT


def _capacity_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Capacity: 1,000 and 10,000 orders/s on a cluster")
    return readme[start : readme.index("\n## ", start)]


def _documents(path: str) -> list[dict[str, object]]:
    return [doc for doc in yaml.safe_load_all((ROOT / path).read_text()) if doc]


def test_the_capacity_model_quotes_the_defaults_it_computes_against() -> None:
    section = _capacity_section()
    settings = Settings(_env_file=None)
    assert settings.db_pool_max_size == 10
    assert "`DB_POOL_MAX_SIZE` 10" in section
    assert settings.outbox_retention_seconds == 7 * 24 * 3600
    assert settings.idempotency_retention_seconds == 24 * 3600
    assert "kept 7 days" in section
    assert "kept a day" in section

    scales = {
        doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["annotations"][  # type: ignore[index]
            "autoscaling.knative.dev/max-scale"
        ]
        for doc in _documents("knative/services.yaml")
    }
    assert scales["orders-http"] == "10"
    assert "`max-scale` of 10" in section

    lifecycle = [
        t
        for t in _documents("knative/kafka-topics.yaml")
        if t["spec"]["topicName"] in TOPICS.values()  # type: ignore[index]
    ]
    assert len(lifecycle) == len(TOPICS)
    assert {t["spec"]["partitions"] for t in lifecycle} == {6}  # type: ignore[index]
    assert {t["spec"]["replicas"] for t in lifecycle} == {3}  # type: ignore[index]
    assert {t["spec"]["config"]["retention.ms"] for t in lifecycle} == {7 * 24 * 3600 * 1000}  # type: ignore[index]
    assert "6 a topic" in section
    assert "3 replicas x 7 days" in section

    (pool,) = [d for d in _documents("knative/kafka-cluster.yaml") if d["kind"] == "KafkaNodePool"]
    assert pool["spec"]["storage"]["volumes"][0]["size"] == "20Gi"  # type: ignore[index]
    assert "20Gi volume" in section

    variables = (ROOT / "terraform/app/variables.tf").read_text()
    storage = re.search(
        r'variable "postgres_storage" \{.*?default\s*=\s*"([^"]+)"', variables, re.S
    )
    assert storage is not None
    assert storage.group(1) == "10Gi"
    assert "10Gi volume (`postgres_storage`)" in section
