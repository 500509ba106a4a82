"""The Files and Batches API, as OpenAI defines it (``batch:``; see ``switchyard.batch``).

::

    POST   /v1/files                    multipart: file, purpose          -> file object
    GET    /v1/files                    ?purpose, after, limit, order      -> list
    GET    /v1/files/{id}               -> file object
    DELETE /v1/files/{id}               -> {"id", "object": "file", "deleted": true}
    GET    /v1/files/{id}/content       -> the file's bytes (a batch's output or error file: its lines)
    POST   /v1/batches                  {input_file_id, endpoint, completion_window, metadata}
    GET    /v1/batches                  ?after, limit                      -> list (newest first)
    GET    /v1/batches/{id}             -> batch object (from the read model)
    POST   /v1/batches/{id}/cancel      -> batch object

A caller sees the files and batches it made (the master key all of them). Without a ``batch:``
section every one of these answers 503 ``batches_off``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from switchyard.batch.shapes import UPLOAD_PURPOSES, file_object
from switchyard.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from switchyard.core.messages import parse_json_body
from switchyard.server import multipart
from switchyard.server.http import Request, Response, StreamResponse, json_response
from switchyard.server.routes import Handler, RouteTable

#: Room for the multipart framing around an upload of ``batch.max_file_bytes``.
FRAMING = 64 * 1024
OCTETS = b"application/octet-stream"


def _query(raw: bytes, known: tuple[str, ...]) -> dict[str, str]:
    try:
        params = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The query string is not valid.", param="query") from None
    out = {}
    for name, values in params.items():
        if name not in known:
            raise InvalidRequest(f"Unknown query parameter {name!r}; known: {', '.join(known)}.", param=name[:64])
        out[name] = values[0][:200]
    return out


def _limit(params: dict[str, str], default: int, most: int) -> int:
    try:
        limit = int(params.get("limit", default))
    except ValueError:
        raise InvalidRequest("Query parameter limit must be an integer.", param="limit") from None
    if not 1 <= limit <= most:
        raise InvalidRequest(f"Query parameter limit must be between 1 and {most}.", param="limit")
    return limit


def add_batch_routes(table: RouteTable, app: Any) -> None:
    settings = getattr(getattr(app, "config", None), "batch", None)
    max_upload = (settings.max_file_bytes + FRAMING) if settings is not None else None

    def service() -> Any:
        batches = app.services.batches
        if batches is None:
            raise ServiceUnavailable("This gateway has no batches (add a batch: section to its config).",
                                     code="batches_off")
        return batches

    async def upload(request: Request) -> Response:
        batches = service()
        parts = multipart.parse(request.body, request.headers.get("content-type"))
        purpose = parts.get("purpose")
        if purpose is None or purpose.data.decode("utf-8", "replace").strip() not in UPLOAD_PURPOSES:
            raise InvalidRequest(f"purpose must be one of {', '.join(UPLOAD_PURPOSES)}.", param="purpose",
                                 code="invalid_value")
        upload = parts.get("file")
        if upload is None or upload.filename is None:
            raise InvalidRequest("The upload has no file part (a form field `file` with a filename).", param="file",
                                 code="invalid_value")
        if len(upload.data) > batches.settings.max_file_bytes:
            from switchyard.core.errors import PayloadTooLarge

            raise PayloadTooLarge(f"The file is {len(upload.data)} bytes; the limit is "
                                  f"{batches.settings.max_file_bytes} (batch.max_file_bytes).")
        row = await batches.upload(request.caller, purpose.data.decode().strip(), upload.filename[:500] or "upload",
                                   upload.data)
        return json_response(file_object(row))

    async def list_files(request: Request) -> Response:
        batches = service()
        params = _query(request.query, ("purpose", "after", "limit", "order"))
        order = params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise InvalidRequest("Query parameter order must be asc or desc.", param="order")
        rows = await batches.list_files(request.caller, purpose=params.get("purpose"), after=params.get("after"),
                                        limit=_limit(params, 10_000, 10_000), ascending=order == "asc")
        data = [file_object(row) for row in rows]
        return json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                              "last_id": data[-1]["id"] if data else None, "has_more": False})

    async def file_get(request: Request) -> Response | StreamResponse:
        batches = service()
        file_id, _, rest = request.path_params["tail"].partition("/")
        if rest == "content":
            content = await batches.content(request.caller, file_id)
            if isinstance(content, bytes):
                return Response(200, content, content_type=OCTETS)
            return StreamResponse(content, content_type=OCTETS, done=None)
        if rest:
            raise NotFound(f"Unknown path: {request.path}", code="unknown_url")
        return json_response(file_object(await batches.file(request.caller, file_id)))

    async def file_delete(request: Request) -> Response:
        batches = service()
        file_id = request.path_params["tail"]
        await batches.delete_file(request.caller, file_id)
        return json_response({"id": file_id, "object": "file", "deleted": True})

    async def create(request: Request) -> Response:
        batches = service()
        return json_response(await batches.create(request.caller, parse_json_body(request.body)))

    async def list_batches(request: Request) -> Response:
        batches = service()
        params = _query(request.query, ("after", "limit"))
        return json_response(await batches.list_batches(request.caller, after=params.get("after"),
                                                        limit=_limit(params, 20, 100)))

    async def batch_get(request: Request) -> Response:
        return json_response(await service().batch(request.caller, request.path_params["tail"]))

    async def batch_post(request: Request) -> Response:
        batches = service()
        batch_id, _, rest = request.path_params["tail"].partition("/")
        if rest != "cancel":
            raise NotFound(f"Unknown path: {request.path}", code="unknown_url")
        return json_response(await batches.cancel(request.caller, batch_id))

    for prefix in ("/v1", ""):
        table.add("POST", f"{prefix}/files", Handler(upload, max_body=max_upload))
        table.add("GET", f"{prefix}/files", Handler(list_files, reads_body=False))
        table.add("GET", f"{prefix}/files/{{tail}}", Handler(file_get, reads_body=False))
        table.add("DELETE", f"{prefix}/files/{{tail}}", Handler(file_delete, reads_body=False))
        table.add("POST", f"{prefix}/batches", Handler(create))
        table.add("GET", f"{prefix}/batches", Handler(list_batches, reads_body=False))
        table.add("GET", f"{prefix}/batches/{{tail}}", Handler(batch_get, reads_body=False))
        table.add("POST", f"{prefix}/batches/{{tail}}", Handler(batch_post))

