"""``python -m switchyard.mock --port 8100 [--api-key K] ...``: the mock upstream without the CLI."""

from __future__ import annotations

import argparse

from switchyard.mock.runner import run_mock_upstream


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m switchyard.mock", description="Fake LLM upstream (OpenAI wire format).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--api-key")
    parser.add_argument("--text")
    parser.add_argument("--stream-chunks", type=int, default=20)
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0)
    parser.add_argument("--embedding-dims", type=int, default=64)
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--tls-cert", dest="certfile", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", dest="keyfile", help="its private key (PEM), unless in --tls-cert")
    parser.add_argument("--http2", action="store_true", help="offer HTTP/2 by ALPN (with --tls-cert)")
    args = parser.parse_args(argv)
    run_mock_upstream(**vars(args))


if __name__ == "__main__":
    main()
