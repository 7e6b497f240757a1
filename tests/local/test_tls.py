"""`TLS=1`: orders_http over HTTPS with a locally made certificate, checked by a real TLS client."""

import ssl
from pathlib import Path

import httpx
import pytest

from shared.local.tls import ensure_certificate
from tests.support import order_body, served_function


def test_orders_http_serves_https_with_the_local_certificate(
    tmp_path: Path, database_url: str, broker: str
) -> None:
    local = ensure_certificate(tmp_path / "tls")
    env = {
        "DATABASE_URL": database_url,
        "SSL_CERTFILE": str(local.cert),
        "SSL_KEYFILE": str(local.key),
    }
    trust = ssl.create_default_context(cafile=str(local.ca))
    with served_function("orders_http", env, scheme="https", verify=trust) as url:
        assert url.startswith("https://")
        with httpx.Client(verify=trust) as client:
            assert client.get(f"{url}/healthz").json() == {"status": "ok"}
            assert client.post(f"{url}/", json=order_body()).status_code == 201
        with (
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
            httpx.Client() as untrusting,
        ):
            untrusting.get(f"{url}/healthz")
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https://", "http://") + "/healthz")


def test_the_certificate_is_made_once(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path)
    pem = first.cert.read_bytes()
    assert ensure_certificate(tmp_path).cert.read_bytes() == pem
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"
