"""``switchyard agent run NAME ["INPUT"]`` and ``switchyard agent list``: the agents of a config's
``agents:`` section, in-process (the config's gateway, no server needed).

With INPUT, one run: the answer is written as it comes, the tool calls and a line of totals
(turns, tool calls, tokens, cost, trace id) go to stderr; ``--json`` prints the result
instead. Without INPUT, a chat: each line read is a run in the same session (``--session``,
default a new one each time the command starts) until an empty line or end of input. A
tool that needs approval asks on the terminal (``--yes`` approves every call). Exit codes:
0 done, 1 the run stopped (a limit, an invalid output, a gateway error), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

import orjson

from switchyard.core.config import ConfigError, load_config


def add_parser(sub: Any) -> None:
    agent = sub.add_parser("agent", help="run the agents of a config's agents: section")
    actions = agent.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run an agent once with INPUT, or chat with it (no INPUT)")
    run.add_argument("name", help="the agent's name in agents.named")
    run.add_argument("input", nargs="?", default=None, help="what to ask; without it, a chat on stdin")
    run.add_argument("--config", "-c", required=True, help="YAML config file with an agents: section")
    run.add_argument("--session", "-s", default=None, help="session id: memory across runs (default: a new one)")
    run.add_argument("--user", default=None, help="the user the run is for (scopes long-term memory)")
    run.add_argument("--tenant", default=None, help="the tenant the run is for")
    run.add_argument("--yes", "-y", action="store_true", help="approve every tool call that asks for approval")
    run.add_argument("--json", action="store_true", help="print the result as JSON, not the text as it comes")
    run.set_defaults(run=run_agent)
    listing = actions.add_parser("list", help="list the agents of a config")
    listing.add_argument("--config", "-c", required=True, help="YAML config file with an agents: section")
    listing.set_defaults(run=list_agents)


def list_agents(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if config is None:
        return 2
    assert config.agents is not None
    for name, agent in config.agents.named.items():
        print(f"{name}\t{agent.model}\t{agent.description or agent.instructions[:60]}")
    return 0


def run_agent(args: argparse.Namespace) -> int:
    config = _config(args.config)
    if config is None:
        return 2
    assert config.agents is not None
    if args.name not in config.agents.named:
        print(f"error: no agent named {args.name!r}; the agents are: {', '.join(config.agents.named) or 'none'}",
              file=sys.stderr)
        return 2
    return asyncio.run(_run(config, args))


async def _run(config: Any, args: argparse.Namespace) -> int:
    from switchyard.agents.catalog import AgentCatalog
    from switchyard.client import AsyncClient

    async with AsyncClient(config) as client:
        catalog = AgentCatalog(config.agents)
        try:
            await catalog.start(client, client.services.durable if client.services else None)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            agent = catalog.get(args.name)
            options = {"session": args.session, "user": args.user, "tenant": args.tenant}
            if args.input is not None:
                return await _once(agent, args.input, options, args)
            options["session"] = options["session"] or uuid.uuid4().hex
            while True:
                try:
                    line = await asyncio.to_thread(input, "you> ")
                except EOFError:
                    return 0
                if not line.strip() or line.strip() in ("exit", "quit"):
                    return 0
                sys.stdout.write(f"{agent.name}> ")
                await _once(agent, line, options, args)
        finally:
            await catalog.aclose()


async def _once(agent: Any, text: str, options: dict[str, Any], args: argparse.Namespace) -> int:
    from switchyard.agents import AgentError, ApprovalRequested, Finished, TextDelta, ToolCalled, ToolReturned
    from switchyard.core.errors import SwitchyardError

    try:
        async for event in agent.stream(text, **options):
            if isinstance(event, TextDelta) and not args.json:
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, ToolCalled) and not args.json:
                print(f"\n  -> {event.name}({event.arguments})", file=sys.stderr)
            elif isinstance(event, ToolReturned) and not args.json:
                flag = " (error)" if event.is_error else ""
                print(f"  <- {event.name}{flag}: {event.output[:200]}", file=sys.stderr)
            elif isinstance(event, ApprovalRequested):
                await agent.decide(event.key, await _approve(event, args.yes))
            elif isinstance(event, Finished):
                result = event.result
                if args.json:
                    print(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
                else:
                    print()
                    print(f"[{result.agent}: {result.turns} turns, {result.tool_calls} tool calls, "
                          f"{result.prompt_tokens + result.completion_tokens} tokens, ${result.cost_usd:.6f}, "
                          f"trace {result.trace_id}]", file=sys.stderr)
    except (AgentError, SwitchyardError) as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


async def _approve(event: Any, yes: bool) -> bool:
    if yes:
        print(f"\n  approved: {event.name}({event.arguments})", file=sys.stderr)
        return True
    try:
        answer = await asyncio.to_thread(input, f"\n  approve {event.name}({event.arguments})? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _config(path: str) -> Any:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    if config.agents is None or not config.agents.named:
        print(f"error: {path} has no agents (an agents: section with agents under named:)", file=sys.stderr)
        return None
    return config
