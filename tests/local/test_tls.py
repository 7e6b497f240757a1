"""`TLS=1`: orders_http over HTTPS with a locally made certificate, checked by a real TLS client;
the certificates' properties read back from the files."""

import contextlib
import ipaddress
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def test_the_ca_can_vouch_for_this_machine_alone(tmp_path: Path) -> None:
    local = ensure_certificate(tmp_path)
    ca = x509.load_pem_x509_certificate(local.ca.read_bytes())
    now = datetime.now(UTC)
    assert ca.subject == ca.issuer
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca
    assert basic.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not any(
        getattr(usage.value, name)
        for name in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
        )
    )
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.excluded_subtrees is None
    assert set(constraints.value.permitted_subtrees or ()) == {
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    }
    assert timedelta(days=360) < ca.not_valid_after_utc - now <= timedelta(days=366)
    with pytest.raises(x509.ExtensionNotFound):
        ca.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_the_server_certificate_serves_this_machine_for_months(tmp_path: Path) -> None:
    local = ensure_certificate(tmp_path)
    ca = x509.load_pem_x509_certificate(local.ca.read_bytes())
    server = x509.load_pem_x509_certificate(local.cert.read_bytes())
    server.verify_directly_issued_by(ca)
    now = datetime.now(UTC)
    assert timedelta(days=85) < server.not_valid_after_utc - now <= timedelta(days=91)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    key_usage = server.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not key_usage.key_cert_sign
    for key in (local.key, local.ca_key):
        assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_certificate_near_its_end_is_issued_again(tmp_path: Path) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=80)
    old = ensure_certificate(tmp_path, now=long_ago)
    old_ca, old_cert = old.ca.read_bytes(), old.cert.read_bytes()
    renewed = ensure_certificate(tmp_path)
    assert renewed.ca.read_bytes() == old_ca  # the CA has months left: still trusted
    assert renewed.cert.read_bytes() != old_cert
    server = x509.load_pem_x509_certificate(renewed.cert.read_bytes())
    assert server.not_valid_after_utc - datetime.now(UTC) > timedelta(days=85)
    ensure_certificate(tmp_path, now=datetime.now(UTC) + timedelta(days=300))
    assert old.ca.read_bytes() != old_ca  # the CA itself is near its end then


def _served_once(cert: Path, key: Path) -> tuple[int, threading.Thread]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        with listener, contextlib.suppress(OSError):
            connection, _ = listener.accept()
            with contextlib.suppress(OSError), server.wrap_socket(connection, server_side=True):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return port, thread


def test_a_certificate_for_another_name_from_the_local_ca_is_refused(tmp_path: Path) -> None:
    """Its key in hand, the CA still cannot vouch for another host: clients enforce the
    NameConstraints."""
    local = ensure_certificate(tmp_path)
    ca = x509.load_pem_x509_certificate(local.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(local.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("example.com")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "forged.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "forged-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port, thread = _served_once(tmp_path / "forged.pem", tmp_path / "forged-key.pem")
    trust = ssl.create_default_context(cafile=str(local.ca))
    with (
        pytest.raises(ssl.SSLCertVerificationError, match="permitted subtree violation"),
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        trust.wrap_socket(raw, server_hostname="example.com"),
    ):
        pass
    thread.join(timeout=10)
