"""TLS to upstreams: the trust a client context is built from, session resumption,
and handshake failures told in words.

Verification is on unless a setting turns it off: the system's trusted roots
(OpenSSL's defaults, so ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` replace them) plus,
when given, one more PEM bundle (``ca_file``). A reconnect to a server already
met resumes its last TLS session (an abbreviated handshake: no certificate
chain, no key exchange signature), which asyncio does not do on its own: the
context hands the session to ``wrap_bio`` itself.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

# Servers remembered for resumption, per context; beyond it the memory starts over.
_SESSIONS_KEPT = 256


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """What a client context trusts. ``ca_file``: a PEM bundle trusted besides the
    system roots; ``verify=False`` accepts any certificate (never the default)."""

    ca_file: str | None = None
    verify: bool = True


class ClientContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` that offers each server the session of the last
    connection to it (keyed by server name), so reconnecting is cheap."""

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        super().__init__()
        self._last: dict[str, ssl.SSLObject] = {}

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        if session is None and not server_side and isinstance(server_hostname, str):
            previous = self._last.get(server_hostname)
            if previous is not None:
                # Read now, not at the handshake: a TLS 1.3 ticket arrives after it.
                session = previous.session
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def remember(self, server_hostname: str, ssl_object: ssl.SSLObject) -> None:
        """Keep the connection whose session the next one to ``server_hostname`` offers."""
        last = self._last
        if len(last) >= _SESSIONS_KEPT and server_hostname not in last:
            last.clear()
        last[server_hostname] = ssl_object


def client_context(options: TLSOptions, *, alpn: tuple[str, ...] = ()) -> ClientContext:
    """A client context for ``options``; ``alpn`` lists the protocols to offer (``("h2", "http/1.1")``).
    Raises ``ValueError`` naming ``ca_file`` when it is missing or holds no certificate."""
    context = ClientContext(ssl.PROTOCOL_TLS_CLIENT)  # TLS 1.2+, hostname check, verification on
    if options.verify:
        context.load_default_certs()
        if options.ca_file is not None:
            try:
                context.load_verify_locations(cafile=options.ca_file)
            except (OSError, ssl.SSLError) as exc:
                reason = "no PEM certificate in it" if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
                raise ValueError(f"tls.ca_file {options.ca_file!r}: {reason}") from None
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def describe(exc: ssl.SSLError | ssl.CertificateError) -> str:
    """A TLS failure in words: what the verification refused, or the handshake's reason."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "refused"
        return f"TLS certificate verification failed: {detail}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc.strerror or type(exc).__name__}"
    return f"TLS certificate verification failed: {exc}"
