"""The upstream transport: one pooled HTTP/1.1 client, SSE and NDJSON decoding."""

from switchyard.transport.client import HttpClient, Response, StreamResponse
from switchyard.transport.headers import Headers
from switchyard.transport.lines import LineDecoder
from switchyard.transport.sse import ServerSentEvent, SSEDecoder, encode_data, encode_event

__all__ = [
    "Headers",
    "HttpClient",
    "LineDecoder",
    "Response",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamResponse",
    "encode_data",
    "encode_event",
]
