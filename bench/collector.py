"""A local OTLP/HTTP collector for the benchmark: ``python -m bench.collector --port 4318``.

Takes ``POST /v1/traces`` and ``POST /v1/metrics`` and answers 200 at once,
reading each body whole but decoding nothing (a real collector's decoding is
its own CPU, on another machine; here it would share the load generator's
core). ``GET /health`` answers 200, ``GET /stats`` the requests and bytes
taken per path, as JSON.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve(port: int) -> None:
    counts: dict[str, list[int]] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                seen = counts.setdefault(self.path, [0, 0])
                seen[0] += 1
                seen[1] += len(body)
            self._answer(200, b"", "application/x-protobuf")

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/stats":
                with lock:
                    self._answer(200, json.dumps(counts).encode(), "application/json")
            else:
                self._answer(200 if self.path == "/health" else 404, b"{}", "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4318)
    serve(parser.parse_args().port)


if __name__ == "__main__":
    main()
