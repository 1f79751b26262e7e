"""TLS material for the sandboxes: one CA per sandbox run, and a server certificate for loopback.

The real clients (simple-salesforce forces https; gRPC verifies its peer) must verify the sandbox as they
would verify Salesforce or Exchange, so the sandbox hands out its CA bundle instead of asking anyone to turn
verification off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class SandboxTLS:
    """A CA certificate and a server certificate signed by it, all PEM."""

    ca_pem: bytes
    cert_chain_pem: bytes
    key_pem: bytes

    @classmethod
    def generate(cls) -> SandboxTLS:
        ca = trustme.CA(organization_name="calbridge sandbox")
        server = ca.issue_cert(*SERVER_NAMES)
        chain = b"".join(blob.bytes() for blob in server.cert_chain_pems)
        return cls(ca_pem=ca.cert_pem.bytes(), cert_chain_pem=chain, key_pem=server.private_key_pem.bytes())

    def write_ca(self, path: Path) -> Path:
        path.write_bytes(self.ca_pem)
        return path

    def server_context(self) -> ssl.SSLContext:
        """An SSLContext for aiohttp servers."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # load_cert_chain wants files; trustme's blobs can write themselves to temporary ones.
        cert = trustme.Blob(self.cert_chain_pem)
        key = trustme.Blob(self.key_pem)
        with cert.tempfile() as cert_path, key.tempfile() as key_path:
            context.load_cert_chain(cert_path, key_path)
        return context
