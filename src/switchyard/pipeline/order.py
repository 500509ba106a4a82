"""The order of the request stages — written here and nowhere else.

A request enters at the top and each stage calls the next; answers (and
errors) travel back up the same way::

    entry      the total deadline is set (reliability.timeouts.total, the
    +account   client's x-switchyard-timeout); on the way out    pipeline/pipeline.py
               the usage is recorded on the call (a stream's at
               its end) and the settlers stages registered run
               once (Call.on_settle) — cache hits included
    auth       who is calling: call.caller                       stages/authenticate.py
    tracing    the call's trace record: the client's traceparent, observe/spans.py
               offered to the exporter when it settles (only
               with tracing:)
    metrics    in flight; its figures once every settler below   observe/measure.py
               ran (only when metrics are on)
    audit      the call recorded when it settles (audit.requests) stages/settled.py
    spend      its spend record when it settles (spend.records)  stages/settled.py
    slo        the SLO monitor hears the call's end (slo:)       observe/slo.py
    resolve    rules -> alias -> model group; may this caller    stages/resolve.py
               use it; can the group do what is asked (a rule
               with select: awaits its selector's choice:
               routing/selection.py)
    guard      PII and secrets found; blocked, redacted or       guard/stage.py
               masked before anything is stored or sent, the
               values restored in the answer (guard: policies)
    budget     the caller's budgets: the estimated cost          stages/budget.py
               reserved, the real one settled; a stream
               past its budget cut (callers with budgets)
    admit      limits, reservations, priority queue; settles     stages/admit.py
               with the real usage (only when limits are set)
    cache      exact (and semantic) cache, coalescing, fan-out   cache/stage.py
               of streams (only for aliases with cache:)
    experiment an A/B split's variant on the answer, its outcome  observe/experiments.py
               counted when it settles (only with experiment:)
    [plugins]  third-party stages, each after the built-in it names (pipeline.stages)
    route      candidates in turn, then alias fallbacks          stages/route.py
      per deployment: retry -> breaker -> timeout -> capacity gate   policies/chain.py
        provider  the adapter speaks its wire format             providers/

Why the cache sits after admit: a hit is still a request of its caller (limits and
budgets see it; it costs nothing), and its key names the resolved alias. Why resolve sits before admit: limits are per alias and tenant, so admission
needs the group. Why the guard sits right after resolve: its policies are per alias
and key, and nothing after it — budgets, limits, the cache (its keys are of the masked
request), the upstream, the records of the call — may hold a raw value. Why budget sits
between them: a price is the group's, and a
request its budget refuses should not take a rate-limit unit or a queue slot
first (``stages/budget.py`` says more). Why spend sits before resolve: a
request refused there or later is recorded too. Why the account is the entry's way out, not a stage: a refusal,
a cache hit or a fallback are all answers the caller got and must be counted,
and a stage that must hear a stream's end (a budget, spend records) registers
a settler instead of wrapping the stream again — one wrapper per stream.
Plugins placed ``after: account`` run right after auth.

MCP tool calls (``/mcp``, ``mcp/hub.py``) are not model calls and do not pass these
stages: the hub runs its own short order — the same authenticator, then access, the
admission backend's counters for tool limits, the call, the audit log and metrics.

Adding a stage is one class (``(call, next)``, see ``core/stage.py``) plus one
line in ``stages()`` below; a third-party stage is one entry point plus one
line of config: its factory is called as ``factory(options, context)`` with a
``StageContext``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchyard.admission.estimate import Estimator
from switchyard.admission.ticket import Admission, OpenAdmission
from switchyard.audit.log import AuditLog
from switchyard.auth import Authenticator
from switchyard.budgets.ledger import BudgetLedger
from switchyard.core.config import Config
from switchyard.core.config.pipeline import PipelineConfig
from switchyard.core.registry import StageRegistry
from switchyard.core.stage import Stage
from switchyard.core.tokens import TokenCounter
from switchyard.pipeline.stages.admit import Admit
from switchyard.pipeline.stages.authenticate import Authenticate
from switchyard.pipeline.stages.budget import Budgets
from switchyard.pipeline.stages.resolve import Resolve, SelectingResolve
from switchyard.pipeline.stages.settled import OnSettle
from switchyard.routing.catalog import Catalog
from switchyard.routing.router import Router
from switchyard.spend.log import SpendLog


@dataclass(frozen=True)
class StageContext:
    """What a plugin stage's factory is handed besides its options: the gateway's
    config and the parts a stage may need (stores for state, the catalog, tokens)."""

    config: Config
    catalog: Catalog
    tokens: TokenCounter
    store: Any = None
    durable: Any = None


def stages(
    *,
    auth: Authenticator,
    catalog: Catalog,
    audit: AuditLog | None = None,
    spend: SpendLog | None = None,
    budgets: BudgetLedger | None = None,
    estimator: Estimator | None = None,
    router: Router,
    admission: Admission,
    plugins: PipelineConfig | None = None,
    registry: StageRegistry | None = None,
    context: StageContext | None = None,
    metrics: Stage | None = None,
    cache: Stage | None = None,
    guard: Stage | None = None,
    tracing: Stage | None = None,
    slo: Stage | None = None,
    experiment: Stage | None = None,
) -> list[Stage]:
    """The request stages in order, outermost first (``route`` is the terminal,
    not in the list). A stage with nothing to do (admission without limits,
    budgets without a ledger) is left out, so it costs nothing."""
    slots: list[tuple[str, Stage | None]] = [
        ("auth", Authenticate(auth)),
        ("account", None),  # the pipeline's entry does it (see above): a slot for plugins
        ("audit", None if audit is None else OnSettle(audit.record_call)),
        ("spend", None if spend is None else OnSettle(spend.record_now)),
        ("slo", slo),
        ("resolve", (SelectingResolve if router.selects else Resolve)(catalog, router)),
        ("guard", guard),
        ("budget", None if budgets is None or estimator is None else Budgets(budgets, estimator)),
        ("admit", None if isinstance(admission, OpenAdmission) else Admit(admission)),
        ("cache", cache),
        ("experiment", experiment),
    ]
    extra = _plugin_stages(plugins, registry, context)
    out: list[Stage] = []
    for name, stage in slots:
        if stage is not None:
            out.append(stage)
        out.extend(extra.get(name, ()))
    # Right after auth, before any plugin: outermost for a known caller; tracing first, so
    # its server span holds everything else.
    for stage in (metrics, tracing):
        if stage is not None:
            out.insert(1, stage)
    return out


def _plugin_stages(plugins: PipelineConfig | None, registry: StageRegistry | None,
                   context: StageContext | None) -> dict[str, list[Stage]]:
    """Each configured plugin stage, built by its factory ``factory(options, context)``,
    keyed by the slot it follows."""
    if plugins is None or not plugins.stages:
        return {}
    registry = registry or StageRegistry()
    out: dict[str, list[Stage]] = {}
    for entry in plugins.stages:
        factory: Callable[[dict[str, Any], StageContext | None], Stage] = registry.get(entry.name)
        out.setdefault(entry.after, []).append(factory(dict(entry.options), context))
    return out
