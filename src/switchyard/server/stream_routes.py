"""``GET /v1/streams/{request_id}``: join a stream in flight, from its first chunk.

Another client or service holding a key of the same tenant receives the stream
of the request ``request_id`` (the ``x-request-id`` of the request that opened
it, or of one that shares it) as server-sent events in the format that request
was answered in — OpenAI chunks and ``[DONE]``, or Anthropic's Messages events
— from its first chunk, then live. Streams of aliases with ``cache:`` can be
joined (``cache/stage.py``); with ``cache.backend: redis``, a coalescable stream
from any replica. Another tenant, an unknown id or a stream already over get
404 ``stream_not_found``. Joining does not go upstream and costs nothing.
"""

from __future__ import annotations

from typing import Any

from switchyard.core.errors import StreamNotFound
from switchyard.server.anthropic_routes import anthropic_error_frame, message_frames
from switchyard.server.http import ChunkFrames, Request, StreamResponse
from switchyard.server.routes import Handler, RouteTable


def add_stream_routes(table: RouteTable, app: Any) -> None:
    async def join(request: Request) -> StreamResponse:
        request_id = request.path_params["request_id"]
        cache = app.services.cache
        if cache is None:
            raise StreamNotFound(f"No stream `{request_id[:128]}` is in flight (no alias is cached).",
                                 param="request_id")
        chunks, surface, model = await cache.join(request.caller, request_id)
        if surface == "anthropic":
            return StreamResponse(message_frames(chunks, model), error_frame=anthropic_error_frame, done=None)
        return StreamResponse(ChunkFrames(chunks))

    for prefix in ("/v1", ""):
        table.add("GET", f"{prefix}/streams/{{request_id}}", Handler(join, reads_body=False))
