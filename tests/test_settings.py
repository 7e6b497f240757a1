import pytest

from shared.settings import Settings


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
