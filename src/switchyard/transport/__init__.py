"""The upstream transport: one pooled HTTP/1.1 client, SSE and NDJSON decoding."""

from switchyard.transport.client import HttpClient, Response, StreamResponse
from switchyard.transport.headers import Headers

__all__ = ["Headers", "HttpClient", "Response", "StreamResponse"]
