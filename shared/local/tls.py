"""A self-signed certificate authority and a server certificate for `TLS=1 make dev`."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalCertificate:
    ca: Path
    cert: Path
    key: Path


def ensure_certificate(directory: Path) -> LocalCertificate:
    """Make (once) a CA and a certificate for localhost and 127.0.0.1 signed by it."""
    local = LocalCertificate(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    )
    if not all(path.exists() for path in (local.ca, local.cert, local.key)):
        import trustme

        directory.mkdir(parents=True, exist_ok=True)
        authority = trustme.CA(organization_name="orders local development")
        server = authority.issue_cert("localhost", "127.0.0.1", "::1")
        authority.cert_pem.write_to_path(str(local.ca))
        server.cert_chain_pems[0].write_to_path(str(local.cert))
        server.private_key_pem.write_to_path(str(local.key))
        local.key.chmod(0o600)
    return local
