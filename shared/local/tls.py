"""A certificate authority of this checkout's own, and a server certificate for `TLS=1 make dev`.

The CA can vouch for nothing but this machine: its NameConstraints (critical) permit only
localhost, 127.0.0.1 and ::1, its path length is 0 (no CA below it) and its key signs
certificates and CRLs only. Trusting it therefore trusts local servers alone. The server
certificate is for serverAuth only, names localhost, 127.0.0.1 and ::1, and lives 90 days; it
is re-issued when it nears its end (the CA, of a year, likewise). Keys are files of mode 0600.
"""

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = timedelta(days=365)
SERVER_LIFETIME = timedelta(days=90)
# A certificate with less than this left is replaced; the CA is replaced while it could still
# outlive a fresh server certificate.
RENEW_BEFORE = timedelta(days=30)
LOCAL_NAMES: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
)
_PERMITTED: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.ip_network("127.0.0.1/32")),
    x509.IPAddress(ipaddress.ip_network("::1/128")),
)


@dataclass(frozen=True)
class LocalCertificate:
    ca: Path
    cert: Path
    key: Path

    @property
    def ca_key(self) -> Path:
        return self.ca.with_name("ca-key.pem")


def _load(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _fresh(certificate: x509.Certificate | None, now: datetime, margin: timedelta) -> bool:
    return certificate is not None and certificate.not_valid_after_utc - now > margin


def _signed_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orders local development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue_ca(local: LocalCertificate, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"orders local CA {os.urandom(4).hex()}")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage("key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(permitted_subtrees=list(_PERMITTED), excluded_subtrees=None),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(local.ca_key, key)
    local.ca.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


_KEY_USES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*allowed: str) -> x509.KeyUsage:
    """Only the uses named, every other one off."""
    return x509.KeyUsage(**{use: use in allowed for use in _KEY_USES})


def _issue_server(local: LocalCertificate, now: datetime) -> None:
    ca = x509.load_pem_x509_certificate(local.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(local.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{local.ca_key} is not the local CA's key")
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage("digital_signature"),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(list(LOCAL_NAMES)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(local.key, key)
    local.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def ensure_certificate(directory: Path, now: datetime | None = None) -> LocalCertificate:
    """The CA and server certificate in `directory`: made when missing, renewed near their end.

    A renewed CA must be trusted anew; a renewed server certificate needs nothing.
    """
    now = now or datetime.now(UTC)
    local = LocalCertificate(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca = _load(local.ca)
    if not _fresh(ca, now, SERVER_LIFETIME + RENEW_BEFORE) or not local.ca_key.exists():
        _issue_ca(local, now)
        ca = _load(local.ca)
    server = _load(local.cert)
    if (
        ca is None
        or server is None
        or not _fresh(server, now, RENEW_BEFORE)
        or not _signed_by(server, ca)
        or not local.key.exists()
    ):
        _issue_server(local, now)
    return local
