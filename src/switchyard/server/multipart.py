"""``multipart/form-data`` bodies (RFC 7578), as file uploads send them (``POST /v1/files``).

The body is already read whole (bounded by the route's size limit); ``parse`` splits it on the
boundary into named parts. At most ``MAX_PARTS`` parts; a malformed body is a 400 naming
``file`` (where the upload goes) and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchyard.core.errors import InvalidRequest

MAX_PARTS = 16


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _bad(reason: str) -> InvalidRequest:
    return InvalidRequest(f"The upload is not valid multipart/form-data: {reason}.", param="file",
                          code="invalid_value")


def boundary_of(content_type: str | None) -> bytes:
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise InvalidRequest("Send the file as multipart/form-data (fields `file` and `purpose`).", param="file",
                             code="invalid_value")
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            value = value.strip('"')
            if 1 <= len(value) <= 70:
                return value.encode("latin-1")
    raise _bad("no boundary in its content-type")


def _disposition(header: str) -> tuple[str | None, str | None]:
    name = filename = None
    for param in header.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        value = value.strip().strip('"')
        if key.lower() == "name":
            name = value
        elif key.lower() == "filename":
            filename = value
    return name, filename


def parse(body: bytes, content_type: str | None) -> dict[str, Part]:
    """The named parts of ``body`` (the first of each name)."""
    delimiter = b"--" + boundary_of(content_type)
    if not body.startswith(delimiter):
        start = body.find(b"\r\n" + delimiter)
        if start < 0:
            raise _bad("the boundary never appears")
        body = body[start + 2:]
    pieces = body.split(b"\r\n" + delimiter)
    first = pieces[0]
    if not first.startswith(delimiter):
        raise _bad("the body does not start with the boundary")
    pieces[0] = first[len(delimiter):]
    parts: dict[str, Part] = {}
    for piece in pieces:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        if len(parts) >= MAX_PARTS:
            raise _bad(f"more than {MAX_PARTS} parts")
        if not piece.startswith(b"\r\n"):
            raise _bad("a delimiter is not followed by a line end")
        head, sep, data = piece[2:].partition(b"\r\n\r\n")
        if not sep:
            raise _bad("a part has no blank line after its headers")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            key, _, value = line.decode("utf-8", "replace").partition(":")
            headers[key.strip().lower()] = value.strip()
        name, filename = _disposition(headers.get("content-disposition", ""))
        if name is None:
            raise _bad("a part has no name")
        parts.setdefault(name, Part(name, filename, headers.get("content-type"), data))
    return parts
