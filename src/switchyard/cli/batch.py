"""``switchyard batch submit|status|list|cancel|download``: batches on a running gateway.

Each command is a call (or a few) to the gateway's Files and Batches API (``--gateway``,
default ``$SWITCHYARD_URL`` or http://127.0.0.1:4000; ``--api-key``, default
``$SWITCHYARD_API_KEY``) — the same API the ``openai`` SDK uses::

    switchyard batch submit requests.jsonl --model gpt-4o-mini --wait
    switchyard batch status batch_0123…
    switchyard batch download batch_0123… --output results.jsonl --errors errors.jsonl

``submit`` uploads the file and creates the batch; ``--model`` sets every line's model (the
file may then leave it out); ``--wait`` follows it to the end with a live progress bar (lines
done and failed, rate, time left; ``rich``), exiting 0 when it completed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_GATEWAY = "http://127.0.0.1:4000"
FINISHED = ("completed", "failed", "expired", "cancelled")


class GatewayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Gateway:
    def __init__(self, url: str, key: str | None) -> None:
        self.url = url.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
             raw: bool = False) -> Any:
        headers = {"content-type": content_type}
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - the gateway's URL
                data = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()
            try:
                message = json.loads(detail)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = detail.decode("utf-8", "replace")[:500]
            raise GatewayError(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise GatewayError(0, f"cannot reach {self.url} ({getattr(exc, 'reason', exc)})") from None
        return data if raw else json.loads(data)


def with_model(content: bytes, model: str) -> bytes:
    """Every JSON line's ``body.model`` set to ``model`` (other lines left for the gateway to report)."""
    out = []
    for raw in content.split(b"\n"):
        try:
            line = json.loads(raw)
        except ValueError:
            out.append(raw)
            continue
        if isinstance(line, dict) and isinstance(line.get("body"), dict):
            line["body"]["model"] = model
            raw = json.dumps(line).encode()
        out.append(raw)
    return b"\n".join(out)


def _endpoint(content: bytes) -> str:
    for raw in content.split(b"\n"):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("url"), str):
            return str(line["url"])
    return "/v1/chat/completions"


def _form(filename: str, content: bytes) -> tuple[str, bytes]:
    boundary = "sy" + secrets.token_hex(16)
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/jsonl\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def submit(gateway: Gateway, args: argparse.Namespace) -> int:
    path = Path(args.file)
    content = path.read_bytes()
    if args.model:
        content = with_model(content, args.model)
    kind, form = _form(path.name, content)
    uploaded = gateway.call("POST", "/v1/files", form, kind)
    body: dict[str, Any] = {"input_file_id": uploaded["id"], "endpoint": args.endpoint or _endpoint(content),
                            "completion_window": "24h"}
    if args.metadata:
        body["metadata"] = dict(args.metadata)
    batch = gateway.call("POST", "/v1/batches", json.dumps(body).encode())
    if not args.wait:
        print(json.dumps(batch, indent=2))
        return 0
    print(f"batch {batch['id']}: {batch['request_counts']['total']} lines", file=sys.stderr)
    batch = follow(gateway, batch, args.interval)
    print(json.dumps(batch, indent=2))
    return 0 if batch["status"] == "completed" else 1


def follow(gateway: Gateway, batch: dict[str, Any], interval: float) -> dict[str, Any]:
    """Poll the batch to its end, drawing a progress bar (rich) on stderr."""
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:  # the `batch` extra is not installed: a line per change instead of a bar
        print("(pip install 'switchyard[batch]' for a progress bar)", file=sys.stderr)
        return _follow_plainly(gateway, batch, interval)

    counts = batch["request_counts"]
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("failed {task.fields[failed]}"), TextColumn("{task.fields[rate]} lines/s"),
               TimeRemainingColumn())
    started, first_done = time.monotonic(), counts["completed"] + counts["failed"]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(batch["status"], total=counts["total"], completed=first_done, failed=counts["failed"],
                            rate="0")
        while batch["status"] not in FINISHED:
            time.sleep(interval)
            batch = gateway.call("GET", f"/v1/batches/{urllib.parse.quote(batch['id'])}")
            counts = batch["request_counts"]
            done = counts["completed"] + counts["failed"]
            rate = (done - first_done) / max(1e-6, time.monotonic() - started)
            bar.update(task, completed=done, description=batch["status"], failed=counts["failed"],
                       rate=f"{rate:,.0f}")
    return batch


def _follow_plainly(gateway: Gateway, batch: dict[str, Any], interval: float) -> dict[str, Any]:
    shown = None
    while True:
        counts = batch["request_counts"]
        line = f"{batch['status']}: {counts['completed'] + counts['failed']}/{counts['total']} ({counts['failed']} failed)"
        if line != shown:
            print(line, file=sys.stderr)
            shown = line
        if batch["status"] in FINISHED:
            return batch
        time.sleep(interval)
        batch = gateway.call("GET", f"/v1/batches/{urllib.parse.quote(batch['id'])}")


def download(gateway: Gateway, args: argparse.Namespace) -> int:
    batch = gateway.call("GET", f"/v1/batches/{urllib.parse.quote(args.id)}")
    wrote = False
    for key, target in (("output_file_id", args.output), ("error_file_id", args.errors)):
        file_id = batch.get(key)
        if not file_id or (target is None and key == "error_file_id"):
            continue
        content = gateway.call("GET", f"/v1/files/{urllib.parse.quote(file_id)}/content", raw=True)
        if target is None or target == "-":
            sys.stdout.buffer.write(content)
        else:
            Path(target).write_bytes(content)
            lines = content.count(b"\n")
            print(f"{key.split('_')[0]}: {lines} lines -> {target}", file=sys.stderr)
        wrote = True
    if not wrote:
        print(f"batch {args.id} is {batch['status']}: no results to download yet", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    gateway = Gateway(args.gateway or os.environ.get("SWITCHYARD_URL") or DEFAULT_GATEWAY,
                      args.api_key or os.environ.get("SWITCHYARD_API_KEY"))
    try:
        if args.batch_command == "submit":
            return submit(gateway, args)
        if args.batch_command == "download":
            return download(gateway, args)
        if args.batch_command == "status":
            out = gateway.call("GET", f"/v1/batches/{urllib.parse.quote(args.id)}")
        elif args.batch_command == "cancel":
            out = gateway.call("POST", f"/v1/batches/{urllib.parse.quote(args.id)}/cancel", b"{}")
        else:
            query = {"limit": str(args.limit), **({"after": args.after} if args.after else {})}
            out = gateway.call("GET", "/v1/batches?" + urllib.parse.urlencode(query))
    except GatewayError as exc:
        print(f"error: {exc}" + (f" (HTTP {exc.status})" if exc.status else ""), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


def _pair(value: str) -> tuple[str, str]:
    name, sep, text = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    return name, text


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("batch", help="submit a JSONL batch to a running gateway, follow it, get its results")
    actions = parser.add_subparsers(dest="batch_command", required=True, metavar="ACTION")

    def connection(step: argparse.ArgumentParser) -> None:
        step.add_argument("--gateway", "-g", default=None,
                          help=f"the gateway's URL (default: $SWITCHYARD_URL, else {DEFAULT_GATEWAY})")
        step.add_argument("--api-key", default=None, help="the key to act as (default: $SWITCHYARD_API_KEY)")
        step.set_defaults(run=run)

    step = actions.add_parser("submit", help="upload FILE.jsonl and create a batch of its lines")
    step.add_argument("file")
    step.add_argument("--model", "-m", help="the model alias every line uses (replaces the lines' own)")
    step.add_argument("--endpoint", choices=("/v1/chat/completions", "/v1/embeddings"),
                      help="default: the first line's url")
    step.add_argument("--metadata", type=_pair, action="append", metavar="NAME=VALUE")
    step.add_argument("--wait", "-w", action="store_true", help="follow it to the end with a progress bar")
    step.add_argument("--interval", type=float, default=0.5, help="seconds between looks with --wait")
    connection(step)
    for action, text in (("status", "the batch object"), ("cancel", "stop a batch in progress")):
        step = actions.add_parser(action, help=text)
        step.add_argument("id")
        connection(step)
    step = actions.add_parser("list", help="batches, newest first")
    step.add_argument("--limit", type=int, default=20)
    step.add_argument("--after", help="the last batch id of the previous page")
    connection(step)
    step = actions.add_parser("download", help="a finished batch's output (and error) file")
    step.add_argument("id")
    step.add_argument("--output", "-o", help="where the output file goes (default: stdout)")
    step.add_argument("--errors", "-e", help="where the error file goes (default: not downloaded)")
    connection(step)
