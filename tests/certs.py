"""A throwaway certificate authority for TLS upstreams on loopback (trustme)."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class UpstreamCerts:
    """A CA made for one test: ``ca_file`` (its PEM, for ``tls.ca_file``) and server
    contexts for certificates it issues."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(directory / "upstream-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server context whose certificate is valid for ``names`` (default: 127.0.0.1 and localhost)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
        return context
