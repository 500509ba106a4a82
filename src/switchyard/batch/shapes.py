"""The OpenAI objects of the Files and Batches API: ids, file objects, result lines, owners.

Who owns a file or a batch is the caller's identity as ``Authenticator.identity`` writes it
(``key:<id>`` for a virtual key, ``static:<name>``, ``master``, ``anonymous``): a caller sees
what it owns, the master key everything. Result lines are OpenAI's::

    {"id": "batch_req_…", "custom_id": "a", "response": {"status_code": 200, "request_id": "…",
     "body": {...}}, "error": null}

An upstream or gateway refusal is an error-file line with its ``response`` (status and OpenAI
error body); a line that could not be run at all (bad JSON, an unknown model, the batch
expired) has ``response: null`` and ``error: {code, message, param, line}``.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

#: What a batch's output and error files are called, and their purpose.
OUTPUT_PURPOSE = "batch_output"
#: File purposes an upload may have (only ``batch`` files can feed a batch).
UPLOAD_PURPOSES = ("batch", "assistants", "fine-tune", "vision", "user_data", "evals")


def new_id(prefix: str) -> str:
    """``file-…``, ``batch_…``, ``batch_req_…``: the prefix and 24 random hex digits."""
    return prefix + secrets.token_hex(12)


def file_object(row: Any) -> dict[str, Any]:
    """The ``file`` object of a ``sy_files`` row."""
    return {"id": row.id, "object": "file", "bytes": int(row.bytes), "created_at": int(row.created_at),
            "filename": row.filename, "purpose": row.purpose, "status": "processed", "expires_at": None,
            "status_details": None}


def result_line(custom_id: str | None, request_id: str, status: int, body: bytes) -> bytes:
    """An output (or error) file line for an answer (or an error body) the pipeline gave."""
    return b"".join((b'{"id":', orjson.dumps(new_id("batch_req_")), b',"custom_id":', orjson.dumps(custom_id),
                     b',"response":{"status_code":', str(status).encode(), b',"request_id":',
                     orjson.dumps(request_id), b',"body":', body, b'},"error":null}'))


def error_line(custom_id: str | None, line: int, code: str, message: str, param: str | None = None) -> bytes:
    """An error file line for a line that was not run (invalid, expired, its owner's key gone)."""
    return orjson.dumps({"id": new_id("batch_req_"), "custom_id": custom_id, "response": None,
                         "error": {"code": code, "message": message, "param": param, "line": line}})


def line_error(line: int, code: str, message: str, param: str | None) -> dict[str, Any]:
    """An entry of a batch's ``errors.data`` (OpenAI's ``BatchError``)."""
    return {"code": code, "line": line, "message": message, "param": param}
