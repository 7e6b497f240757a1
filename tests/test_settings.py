from pathlib import Path

import pytest

from shared.settings import Settings, get_settings


def test_database_url_wins_and_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/orders")
    settings = Settings()
    assert settings.postgres_dsn == "postgresql://u:p@db:5432/orders"
    assert settings.sqlalchemy_url == "postgresql+asyncpg://u:p@db:5432/orders"


def test_postgres_parts_build_a_url_with_escaped_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name, value in {
        "POSTGRES_SERVER": "pg.internal",
        "POSTGRES_PORT": "6543",
        "POSTGRES_DB": "shop",
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "p@ss/word",
    }.items():
        monkeypatch.setenv(name, value)
    assert Settings().postgres_dsn == "postgresql://app:p%40ss%2Fword@pg.internal:6543/shop"


def test_secrets_stay_out_of_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db/orders")
    monkeypatch.setenv("POSTGRES_PASSWORD", "hunter3")
    text = repr(Settings())
    assert "hunter2" not in text
    assert "hunter3" not in text


def test_secrets_can_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "postgres_password").write_text("from-a-file")
    (tmp_path / "kafka_sasl_password").write_text("also-a-file")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.postgres_password.get_secret_value() == "from-a-file"
        assert settings.kafka_sasl_password is not None
        assert settings.kafka_sasl_password.get_secret_value() == "also-a-file"
        assert "from-a-file" not in repr(settings)
    finally:
        get_settings.cache_clear()


def test_where_a_served_function_listens_is_port_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """`orders serve` takes both from the settings (Knative sets PORT)."""
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    assert (Settings().host, Settings().port) == ("0.0.0.0", 8080)
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("HOST", "127.0.0.9")
    assert (Settings().host, Settings().port) == ("127.0.0.9", 9123)
