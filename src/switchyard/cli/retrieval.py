"""``switchyard ingest`` and ``switchyard retrieval eval|query``: retrieval pipelines from the shell.

``ingest PIPELINE --path DIR`` runs the pipeline's ingestion over a folder with a
progress bar (``rich``) on stderr and prints what it did as JSON (added,
replaced, unchanged, removed files; chunks). ``retrieval eval PIPELINE --queries
FILE`` scores each of the pipeline's retrievers (and the query retriever with
its reranker) by recall@k and MRR on a query set, beside a random baseline;
``--path DIR`` ingests first (an in-memory index starts empty). ``retrieval query
PIPELINE TEXT`` prints the hits, or with ``--answer`` the answer and citations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from typing import Any

from switchyard.core.errors import SwitchyardError


def add_parsers(sub: Any) -> None:
    ingest = sub.add_parser("ingest", help="ingest a folder through a retrieval pipeline (YAML)")
    ingest.add_argument("pipeline", help="the pipeline's YAML file")
    ingest.add_argument("--path", required=True, help="the folder (or file) to read")
    ingest.add_argument("--namespace", default=None, help="the tenant namespace (default: the pipeline's)")
    ingest.add_argument("--prune", action="store_true", help="delete the chunks of files no longer in the folder")
    ingest.set_defaults(run=ingest_command)

    retrieval = sub.add_parser("retrieval", help="evaluate or query a retrieval pipeline")
    actions = retrieval.add_subparsers(dest="retrieval_command", required=True, metavar="ACTION")
    evaluate = actions.add_parser("eval", help="recall@k and MRR of each retriever on a query set")
    evaluate.add_argument("pipeline")
    evaluate.add_argument("--queries", required=True, help='JSON: [{"query": ..., "relevant": [source, ...]}]')
    evaluate.add_argument("--path", default=None, help="ingest this folder first")
    evaluate.add_argument("--k", default="1,3,5", help="the cut-offs of recall (default 1,3,5)")
    evaluate.add_argument("--format", choices=("table", "json"), default="table")
    evaluate.set_defaults(run=eval_command)
    query = actions.add_parser("query", help="the hits for a query (or, with --answer, the answer)")
    query.add_argument("pipeline")
    query.add_argument("text")
    query.add_argument("--k", type=int, default=None)
    query.add_argument("--namespace", default=None)
    query.add_argument("--answer", action="store_true", help="run the answer step and print its citations")
    query.set_defaults(run=query_command)


def _fail(exc: Exception) -> int:
    message = exc.message if isinstance(exc, SwitchyardError) else str(exc)
    print(f"error: {message}", file=sys.stderr)
    return 2


def ingest_command(args: argparse.Namespace) -> int:
    from switchyard.components.pipelines import RetrievalPipeline

    async def run() -> int:
        async with RetrievalPipeline.load(args.pipeline) as pipeline:
            with Bar() as bar:
                report = await pipeline.ingest(args.path, namespace=args.namespace, prune=args.prune,
                                               progress=bar.update)
        print(json.dumps(report.to_json(), indent=2))
        return 0

    try:
        return asyncio.run(run())
    except SwitchyardError as exc:
        return _fail(exc)


class Bar:
    """Files done out of the total, on stderr (a line per file without ``rich``)."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        except ImportError:
            return self
        self._progress = Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[chunks]} chunks"), TimeRemainingColumn(),
                                  console=Console(stderr=True))
        self._progress.start()
        return self

    def update(self, report: Any) -> None:
        if self._progress is None:
            print(f"{report.done}/{report.total or '?'} files, {report.chunks} chunks", file=sys.stderr)
            return
        if self._task is None:
            self._task = self._progress.add_task("ingest", total=report.total, chunks=0)
        self._progress.update(self._task, completed=report.done, chunks=report.chunks)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def eval_command(args: argparse.Namespace) -> int:
    from switchyard.components.evaluation import evaluate, load_queries
    from switchyard.components.pipelines import RetrievalPipeline
    from switchyard.components.protocols import Hit

    try:
        ks = sorted({int(k) for k in args.k.split(",")})
    except ValueError:
        print(f"error: --k takes numbers separated by commas, got {args.k!r}", file=sys.stderr)
        return 2

    async def run() -> int:
        queries = load_queries(args.queries)
        async with RetrievalPipeline.load(args.pipeline) as pipeline:
            if args.path:
                await pipeline.ingest(args.path)
            namespace = pipeline.spec.namespace
            rows: dict[str, dict[str, Any]] = {}
            chunks = await pipeline.index.chunks(namespace=namespace)
            shuffled = random.Random(17)

            async def at_random(query: str, n: int) -> list[Hit]:
                order = list(chunks)
                shuffled.shuffle(order)
                return [Hit(c, 0.0) for c in order[:n]]

            depth = max(10, max(ks))
            rows["random"] = (await evaluate(at_random, queries, ks=ks, depth=depth)).to_json()
            for name, retriever in pipeline.retrievers.items():
                rows[name] = (await evaluate(searcher(retriever, namespace), queries, ks=ks, depth=depth)).to_json()
            if pipeline.reranker is not None:
                rows["query (reranked)"] = (await evaluate(
                    lambda q, n: pipeline.retrieve(q, k=n, namespace=namespace), queries, ks=ks, depth=depth)).to_json()
            elif not pipeline.retrievers:
                rows["query"] = (await evaluate(lambda q, n: pipeline.retrieve(q, k=n), queries, ks=ks,
                                                depth=depth)).to_json()
        if args.format == "json":
            print(json.dumps(rows, indent=2))
        else:
            columns = [f"recall@{k}" for k in ks] + ["mrr"]
            print(f"{'retriever':<20}" + "".join(f"{c:>11}" for c in columns))
            for name, row in rows.items():
                print(f"{name:<20}" + "".join(f"{row[c]:>11.3f}" for c in columns))
        return 0

    try:
        return asyncio.run(run())
    except SwitchyardError as exc:
        return _fail(exc)


def searcher(retriever: Any, namespace: str) -> Any:
    async def search(query: str, n: int) -> Any:
        return await retriever.retrieve(query, n, namespace=namespace)

    return search


def query_command(args: argparse.Namespace) -> int:
    from switchyard.components.pipelines import RetrievalPipeline

    async def run() -> int:
        async with RetrievalPipeline.load(args.pipeline) as pipeline:
            if args.answer:
                answer = await pipeline.ask(args.text, namespace=args.namespace)
                print(json.dumps(answer.to_json(), indent=2))
            else:
                hits = await pipeline.retrieve(args.text, k=args.k, namespace=args.namespace)
                print(json.dumps([h.to_json() for h in hits], indent=2))
        return 0

    try:
        return asyncio.run(run())
    except SwitchyardError as exc:
        return _fail(exc)
