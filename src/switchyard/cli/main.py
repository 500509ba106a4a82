"""The ``switchyard`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from switchyard.cli import admin, agent, audit, batch, commands, flow, retrieval, spend, worker


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchyard", description="An LLM gateway: one OpenAI-compatible API in front of every provider.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", "-c", help="YAML config file (default: the embedded default, no services needed)")
    serve.add_argument("--host", help="bind address (default: from config, else 127.0.0.1)")
    serve.add_argument("--port", "-p", type=int, help="port (default: from config, else 4000)")
    serve.add_argument("--log-level", default=None, help="debug, info, warning, error (default: from config, else info)")
    serve.add_argument("--log-format", choices=("kv", "json"), default=None,
                       help="one line per record as key=value or JSON (default: logging.format, else kv)")
    serve.add_argument("--workers", "-w", type=int, default=1,
                       help="gateway processes accepting on the one socket (default 1; see README 'Several workers')")
    serve.set_defaults(run=commands.serve)

    check = sub.add_parser("check-config", help="validate a config file and print every problem with its path")
    check.add_argument("file")
    check.set_defaults(run=commands.check_config)

    route = sub.add_parser("route", help="dry-run routing: which rule, candidates and deployment a request gets")
    route.add_argument("--config", "-c", help="YAML config file (default: the embedded default)")
    route.add_argument("--request", "-r", help="the request body as JSON, or @FILE")
    route.add_argument("--evaluate", metavar="FILE.jsonl", help="instead of a request: measure the selecting rule "
                       "on labelled prompts ({\"prompt\", \"route\"} lines): accuracy, cost against the strongest")
    route.add_argument("--rule", help="with --evaluate: the selecting rule (default: the first)")
    route.add_argument("--baseline", help="with --evaluate: the alias to compare costs with (default: the dearest target)")
    route.add_argument("--header", "-H", action="append", default=[], help="'name: value' as if sent (repeatable)")
    route.set_defaults(run=commands.route)

    db = sub.add_parser("db", help="migrate the durable store's tables (SQLite, PostgreSQL)")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for action, text in (("upgrade", "apply every migration not yet applied"),
                         ("current", "print the revision the database is at")):
        step = db_sub.add_parser(action, help=text)
        where = step.add_mutually_exclusive_group()
        where.add_argument("--url", help="sqlite:///path or postgresql://… (default: storage.url of the config)")
        where.add_argument("--config", "-c", help="YAML config file whose storage.url to use")
        step.set_defaults(run=commands.db)

    audit.add_parser(sub)
    admin.add_parsers(sub, admin.run)
    spend.add_parser(sub)
    batch.add_parser(sub)
    worker.add_parsers(sub)
    agent.add_parser(sub)
    retrieval.add_parsers(sub)
    flow.add_parser(sub)

    mock = sub.add_parser("mock-upstream", help="run a fake upstream that speaks the providers' wire formats")
    mock.add_argument("--host", default="127.0.0.1")
    mock.add_argument("--port", "-p", type=int, default=8900)
    mock.add_argument("--api-key", default=None, help="require this key from clients")
    mock.add_argument("--stream-chunks", "--chunks", dest="stream_chunks", type=int, default=None,
                      help="content deltas per streamed answer (default 20)")
    mock.add_argument("--text", default=None, help="answer with this text instead of echoing the prompt")
    mock.add_argument("--embedding-dims", type=int, default=None, help="default embedding size (default 64)")
    mock.add_argument("--model", dest="models", action="append", default=None, help="a model /v1/models lists (repeatable)")
    mock.add_argument("--latency-ms", type=float, default=None, help="delay before answering")
    mock.add_argument("--chunk-delay-ms", type=float, default=None, help="delay between stream chunks")
    mock.add_argument("--end-delay-ms", type=float, default=None,
                      help="delay between a stream's last event and the end of its body")
    mock.add_argument("--status", type=int, default=None, help="answer every request with this HTTP status")
    mock.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds on 429/503")
    mock.add_argument("--drop-after-chunks", type=int, default=None, help="drop streams after N chunks")
    mock.add_argument("--garbage", action="store_true", default=None, help="answer with bodies that are not JSON")
    mock.add_argument("--hang", action="store_true", default=None, help="never answer")
    mock.add_argument("--tls-cert", dest="certfile", default=None, help="serve HTTPS with this PEM certificate (chain)")
    mock.add_argument("--tls-key", dest="keyfile", default=None, help="its private key (PEM), unless in --tls-cert")
    mock.add_argument("--http2", action="store_true", default=None, help="offer HTTP/2 by ALPN (with --tls-cert)")
    mock.set_defaults(run=commands.mock_upstream)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
