"""The composition root: everything a gateway owns for its lifetime, built in
one place, in dependency order, each object complete when constructed.

::

    config, environment -> upstream HTTP clients, stores (shared: redis:, durable: storage:), token counter,
              metrics (metrics.enabled), tracing (tracing:), the SLO monitor (slo:)
           -> key snapshot, authenticator, governance (directory, sync, admin API; when auth is on)
           -> admission (limits backend, queue, capacity gates)
           -> retry budget, shared breakers, price book -> deployment factory -> catalog
           -> router (rules, stickiness, regions)
           -> budget ledger and alerts, spend log, audit log, response cache -> guard (guard.policies)
           -> request stages -> pipeline
           -> the read models' projector (spend records, batches) -> batches (batch:)
           -> every virtual key loaded (governance.start), then
              background tasks (health probes, breaker sync, directory sync, writers, projector,
              batch workers and sweeper), started last

``Services.start`` builds and starts; ``aclose`` stops the tasks and closes
what was opened, in reverse. The HTTP server and the in-process ``Client`` are
both consumers of one ``Services``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchyard.admission import AdmissionControl
from switchyard.admission.estimate import Estimator
from switchyard.audit.log import AuditLog
from switchyard.audit.store import audit_store_for
from switchyard.auth import Authenticator
from switchyard.budgets import BudgetAlerts, BudgetLedger
from switchyard.core.config import Config, ConfigError
from switchyard.core.registry import DetectorRegistry, Registry, StageRegistry
from switchyard.core.tokens import TokenCounter
from switchyard.governance import Governance, KeySnapshot
from switchyard.pipeline import Pipeline, order
from switchyard.pipeline.deployments import DeploymentFactory
from switchyard.pipeline.stages.route import Route
from switchyard.pipeline.stages.settled import OnSettle
from switchyard.pipeline.unattended import Unattended
from switchyard.policies.breaker import CircuitBreaker
from switchyard.policies.retry import RetryBudget
from switchyard.pricing import PriceBook
from switchyard.responses.store import ResponseStore, response_store_for
from switchyard.routing.catalog import Catalog
from switchyard.routing.regions import RegionPreference
from switchyard.routing.router import Router
from switchyard.spend import SpendLog, spend_store_for
from switchyard.storage import Store, open_store
from switchyard.tasks.breaker_sync import BreakerSync
from switchyard.tasks.health_probes import HealthChecker
from switchyard.transport.client import HttpClient
from switchyard.transport.upstreams import Upstreams

if TYPE_CHECKING:
    from switchyard.cache import CacheStage
    from switchyard.guard.stage import Guard
    from switchyard.mcp.hub import Hub
    from switchyard.observe.metrics import Metrics
    from switchyard.observe.slo import SloMonitor
    from switchyard.observe.tracing import Tracing


@dataclass(eq=False)
class Services:
    """The gateway's state: the upstream HTTP client, the catalog, the pipeline."""

    config: Config
    #: The upstream clients, one per distinct egress (TLS trust, proxy, HTTP/2); ``http`` is the default one.
    upstreams: Upstreams
    http: HttpClient
    auth: Authenticator
    tokens: TokenCounter
    #: Limits, queue and upstream capacity (``limits:``); see ``switchyard.admission``.
    admission: AdmissionControl
    catalog: Catalog
    router: Router
    pipeline: Pipeline
    budget: RetryBudget
    #: Breaker state shared through the shared store, when ``redis`` is configured.
    shared_breakers: BreakerSync | None = None
    #: Active health probes, when ``reliability.health_checks`` is configured.
    checker: HealthChecker | None = None
    #: The store replicas share (``redis:``), or an in-process one; see ``switchyard.storage``.
    store: Store | None = None
    #: The durable store (``storage.url``; ``memory://`` by default). Connects on first use.
    durable: Store | None = None
    #: The audit log, beside the durable store (None when that is Redis: it keeps no audit).
    audit: AuditLog | None = None
    #: Virtual keys, tenants, teams, users and the admin API (when authentication is on).
    governance: Governance | None = None
    #: Budgets: reserved and settled in the counters of ``budgets.counters`` (None: auth is off).
    budgets: BudgetLedger | None = None
    #: The spend records (``spend.records``), beside the durable store.
    spend: SpendLog | None = None
    #: Prometheus figures (``observe/metrics.py``), when ``metrics.enabled``.
    metrics: Metrics | None = None
    #: The response cache's stage (``switchyard.cache``), when an alias has ``cache:``.
    cache: CacheStage | None = None
    #: Stored responses of the Responses API (``responses.ttl``), beside the durable store.
    responses: ResponseStore | None = None
    #: The guard stage (``guard/stage.py``), when ``guard.policies`` has any.
    guard: Guard | None = None
    #: The MCP gateway at ``/mcp`` (``mcp:``; the SDK loads only then).
    mcp: Hub | None = None
    #: Keeps the read models (usage and spend, batches) from their logs (``switchyard.projections``).
    projector: Any = None
    #: The Files and Batches API and its workers (``batch:``; ``switchyard.batch``).
    batches: Any = None
    #: OpenTelemetry spans and GenAI metrics over OTLP (``observe/tracing.py``), when ``tracing:`` is set.
    tracing: Tracing | None = None
    #: Objectives, their alerts and quality feedback (``observe/slo.py``), when ``slo:`` is set.
    slo: SloMonitor | None = None
    #: In-process calls whose caller left, finishing so their answer is charged (when calls are
    #: charged: budgets or spend records; ``pipeline/unattended.py``).
    unattended: Unattended | None = None
    #: A/B experiments (aliases with ``experiment:``; ``observe/experiments.py``), their figures per variant.
    experiments: Any = None
    #: The durable flow engine of ``/admin/flows`` (``flows:``; ``switchyard.flows`` and DBOS load only then).
    flows: Any = None

    @classmethod
    async def start(cls, config: Config, registry: Registry, stages: StageRegistry | None = None, *,
                    role: str = "gateway") -> Services:
        """Build everything in dependency order, then start the background tasks;
        on failure, close what was opened. ``role="worker"``: a ``switchyard worker`` process
        (batch lines from the shared queue; no sweeper, no projector of its own)."""
        upstreams = Upstreams.from_config(config, os.environ)  # the proxy variables are read here, once
        http = upstreams.http
        store = durable = governance = None
        try:
            store = _open_shared(config)
            durable = open_store(config.storage.url, field="storage.url",
                                 prefix=config.redis.prefix if config.redis is not None else "switchyard:")
            replicated = store if config.redis is not None else None  # what other replicas see too
            tokens = TokenCounter()
            metrics = _metrics(config)
            tracing = _tracing(config, http)
            slo = _slo(config, http)
            keys = KeySnapshot() if config.authenticates else None
            auth = Authenticator(config.auth, keys, enabled=config.authenticates)
            if keys is not None:
                governance = Governance.build(config, durable, (replicated or durable).pubsub, auth, keys)
            admission = AdmissionControl.build(config, store, tokens, keyed=governance is not None)
            settings = config.reliability
            budget = RetryBudget.from_config(settings.retry)
            shared = (BreakerSync(replicated, settings.breaker.sync_interval)
                      if replicated is not None and settings.breaker.enabled else None)
            factory = DeploymentFactory(registry, upstreams.for_deployment, settings, budget,
                                        latency_decay=config.routing.latency.decay, gate_for=admission.gate_for,
                                        on_breaker=_breaker_listeners(shared, slo), prices=PriceBook(),
                                        metrics=metrics, tracing=tracing, validation=_validation(config, metrics))
            catalog = Catalog(config, registry, factory)
            built: list[Pipeline] = []  # the semantic cache and selectors may embed through the pipeline they sit in
            routes: list[Route] = []  # a classifier selector asks through the route stage, built after the router
            selectors = _selectors(config, catalog, lambda: routes[0], lambda: built[0])
            router = Router(config.routing, tokens=tokens, kv=replicated.kv if replicated is not None else None,
                            resolve=catalog.resolve, regions=RegionPreference.from_config(config),
                            selectors=selectors)
            audit = _audit_log(config, durable)
            if governance is not None and audit is not None:
                governance.admin.listeners.append(_audited(audit))
            estimator = Estimator(tokens, config.budgets.estimator, config.budgets.default_max_tokens)
            ledger = _budget_ledger(config, store, durable, http)
            spend = _spend_log(config, durable)
            cache = _cache(config, store, lambda: built[0])
            route = Route(catalog, router)
            routes.append(route)
            guard = _guard(config, catalog, route, audit, metrics)
            experiments = _experiments(config)
            pipeline = Pipeline(
                order.stages(auth=auth, audit=audit if config.audit.requests else None, spend=spend,
                             budgets=ledger, estimator=estimator,
                             catalog=catalog, router=router, admission=admission.admission,
                             plugins=config.pipeline, registry=stages,
                             context=order.StageContext(config, catalog, tokens, replicated, durable),
                             metrics=metrics.stage() if metrics is not None else None, cache=cache,
                             guard=guard, tracing=tracing.stage() if tracing is not None else None,
                             slo=OnSettle(slo.record) if slo is not None else None,
                             experiment=experiments.stage() if experiments is not None else None),
                route,
                settings.timeouts,
                Estimator(tokens),  # what a stream cut short is charged for: its prompt, counted exactly
            )
            built.append(pipeline)
            checker = (HealthChecker(catalog, http, settings.health_checks)
                       if settings.health_checks is not None else None)
            if governance is not None:
                await governance.start()
            projector, batches = await _read_models_and_batches(config, durable, store, spend, pipeline, catalog,
                                                                auth, role)
        except BaseException:
            await upstreams.aclose()
            if governance is not None:
                await governance.aclose()
            for opened in (store, durable):
                if opened is not None:
                    await opened.aclose()
            raise
        services = cls(config=config, upstreams=upstreams, http=http, auth=auth, tokens=tokens, admission=admission,
                       catalog=catalog, router=router, pipeline=pipeline, budget=budget, shared_breakers=shared,
                       checker=checker, store=store, durable=durable, audit=audit, governance=governance,
                       budgets=ledger, spend=spend, metrics=metrics, cache=cache, guard=guard,
                       responses=response_store_for(durable, config.responses.ttl),
                       projector=projector, batches=batches, tracing=tracing, slo=slo,
                       unattended=Unattended() if ledger is not None or spend is not None else None,
                       experiments=experiments)
        if tracing is not None:
            tracing.start()
        if slo is not None:
            slo.start()
        if metrics is not None:
            metrics.watch(catalog, admission, upstreams, projector)
            metrics.start()
        if audit is not None:
            audit.start()
        if ledger is not None and ledger.alerts is not None:
            ledger.alerts.start()
        if spend is not None:
            spend.start()
        if projector is not None and role == "gateway":
            projector.start()
        if batches is not None:
            batches.start()
        if shared is not None:
            shared.start()
        if checker is not None:
            checker.start()
        if config.mcp is not None:
            try:
                services.mcp = await _mcp_hub(config, services)
            except BaseException:
                await services.aclose()
                raise
        if cache is not None:
            await cache.start()
        if selectors is not None:
            await selectors.start()
        if config.flows is not None and role == "gateway":
            try:
                services.flows = await _flow_engine(config, services)
            except BaseException:
                await services.aclose()
                raise
        return services

    def readiness(self) -> dict[str, Any]:
        """``/health/ready``: ok while the gateway can serve, with the admission
        backend's state and each deployment's availability and breaker state."""
        report: dict[str, Any] = {"status": "ok", "models": len(self.config.models)}
        report["admission"] = self.admission.status()
        if self.governance is not None:
            report["keys"] = self.governance.status()
        if not self.admission.ready:
            report["status"] = "degraded"
        if self.tracing is not None:
            report["tracing"] = self.tracing.status()
        report["deployments"] = {
            d.id: {"available": d.health.available,
                   "breaker": d.health.breaker.snapshot()["state"] if d.health.breaker is not None else "none"}
            for d in self.catalog.deployments()
        }
        return report

    def deployments_detail(self) -> dict[str, Any]:
        """Everything known about every deployment (for ``GET /admin/deployments``), its price
        (where it comes from, dollars per million tokens) included."""
        deployments = [
            {"id": d.id, "alias": d.alias, "provider": d.provider_name, "model": d.upstream_model,
             "region": d.region, "price": d.price.describe(), **d.health.snapshot()}
            for d in self.catalog.deployments()
        ]
        out: dict[str, Any] = {"deployments": deployments, "retry_budget": self.budget.snapshot(),
                               "breaker_sharing": "redis" if self.shared_breakers is not None else "memory"}
        if self.checker is not None:
            out["health_check_rounds"] = self.checker.rounds
        return out

    async def aclose(self) -> None:
        try:
            if self.flows is not None:
                await self.flows.close()  # its model steps go through this pipeline: before it closes
            if self.unattended is not None:
                await self.unattended.aclose()  # their answers charged before the writers close
            if self.mcp is not None:
                await self.mcp.aclose()  # its calls are audited: before the audit log closes
            if self.checker is not None:
                await self.checker.aclose()
            if self.shared_breakers is not None:
                await self.shared_breakers.aclose()
            if self.batches is not None:
                await self.batches.aclose()  # running lines finish and their results are written
            if self.governance is not None:
                await self.governance.aclose()
            await self.admission.aclose()
            await self.catalog.aclose()
            if self.audit is not None:
                await self.audit.aclose()  # after the requests it records have ended
            if self.spend is not None:
                await self.spend.aclose()  # writes every record accepted
            if self.projector is not None:
                await self.projector.aclose()
            if self.budgets is not None and self.budgets.alerts is not None:
                await self.budgets.alerts.aclose()
            if self.slo is not None:
                await self.slo.aclose()
            if self.tracing is not None:
                await self.tracing.aclose()  # exports what the last requests left
            if self.metrics is not None:
                await self.metrics.aclose()
            if self.cache is not None:
                await self.cache.aclose()
            if self.guard is not None:
                await self.guard.policies.aclose()
            if self.router.selectors is not None:
                await self.router.selectors.aclose()
        finally:
            await self.upstreams.aclose()
            for opened in (self.store, self.durable):
                if opened is not None:
                    await opened.aclose()


def _guard(config: Config, catalog: Catalog, route: Route, audit: AuditLog | None,
           metrics: Metrics | None) -> Guard | None:
    """The guard stage when ``guard.policies`` has any (its modules load only then)."""
    if not config.guard.enabled:
        return None
    from switchyard.guard.policy import Policies
    from switchyard.guard.stage import Guard

    policies = Policies(config, DetectorRegistry(), catalog=catalog, route=route)
    audited = config.guard.audit if config.guard.audit is not None else config.audit.requests
    return Guard(policies, audit=audit if audited else None, metrics=metrics)


def _experiments(config: Config) -> Any:
    """The experiments of aliases with ``experiment:`` (None without any)."""
    if not any(model.experiment is not None for model in config.models.values()):
        return None
    from switchyard.observe.experiments import Experiments

    return Experiments(config.models)


def _selectors(config: Config, catalog: Catalog, route: Callable[[], Route], pipeline: Callable[[], Pipeline]) -> Any:
    """The selectors of routing rules with ``select:`` (their modules, and numpy, load only then)."""
    if not any(rule.select is not None for rule in config.routing.rules):
        return None
    from switchyard.routing.selection import build_selectors

    return build_selectors(config.routing, catalog=catalog, route=route, pipeline=pipeline)


def _validation(config: Config, metrics: Metrics | None) -> Any:
    """Response validation when an alias has ``validation:`` (``switchyard.validation``; loads only then)."""
    if not any(model.validation is not None for model in config.models.values()):
        return None
    from switchyard.validation.policy import Validation

    return Validation(metrics)


def _metrics(config: Config) -> Metrics | None:
    """Prometheus figures when ``metrics.enabled`` (``prometheus_client`` loads only then)."""
    if not config.metrics.enabled:
        return None
    from switchyard.observe.metrics import Metrics

    return Metrics(config)


def _cache(config: Config, shared: Store, pipeline: Callable[[], Pipeline]) -> CacheStage | None:
    """The cache stage when an alias has ``cache:`` (the package loads only then), with the semantic
    cache when an alias's ``cache:`` says ``semantic`` (numpy and its model load only then);
    ``pipeline()`` is the gateway's, for embeddings through an alias."""
    if not any(model.cache is not None for model in config.models.values()):
        return None
    from switchyard.cache import build_cache

    semantic = None
    if any(model.cache is not None and model.cache.semantic for model in config.models.values()):
        from switchyard.cache.semantic.seam import build_semantic

        semantic = build_semantic(config, shared, pipeline)
    return build_cache(config, shared, semantic)


async def _mcp_hub(config: Config, services: Services) -> Hub:
    """The MCP gateway, its servers connected (``mcp`` is an optional extra: named when missing)."""
    try:
        from switchyard.mcp.hub import Hub
    except ImportError as exc:
        raise ConfigError([("mcp", f"needs the MCP SDK: pip install 'switchyard[mcp]' ({exc.name} is missing)")]) from None
    from switchyard.mcp.builtin.code import NoSandbox

    assert config.mcp is not None
    if services.audit is None:  # a Redis storage.url keeps no audit log
        logging.getLogger("switchyard.mcp").warning(
            "mcp_calls_not_audited", extra={"reason": "storage.url keeps no audit log (use sqlite, postgresql or memory)"})
    guard = None
    if services.guard is not None:  # guard.policies exist: a caller's, mcp.guard's or guard.default's applies
        from switchyard.guard.tools import ToolGuard

        guard = ToolGuard(services.guard.policies, config.mcp.guard)
    try:
        hub = Hub(config.mcp, limits_backend=services.admission.backend, open_gateway=not config.authenticates,
                  max_body=config.server.max_body_bytes, audit=services.audit, metrics=services.metrics, guard=guard)
    except NoSandbox as exc:
        raise ConfigError([("mcp.builtins.code", str(exc))]) from None
    await hub.start()
    return hub


def _tracing(config: Config, http: HttpClient) -> Tracing | None:
    """OpenTelemetry export when ``tracing:`` is set (its modules load only then)."""
    if config.tracing is None:
        return None
    from switchyard.observe.tracing import Tracing

    return Tracing(config, http)


async def _flow_engine(config: Config, services: Services) -> Any:
    """The flow engine over this gateway's own pipeline (``flows:``), open: its YAML flows by name."""
    from switchyard.client import AsyncClient
    from switchyard.flows import FlowEngine
    from switchyard.flows.spec import load

    flows = config.flows
    assert flows is not None
    definitions = {name: load(path) for name, path in flows.definitions.items()}
    on_finished = None
    tracing = services.tracing
    if tracing is not None:  # each run's trace (a span per step) goes to the gateway's collector when it ends
        from switchyard.flows.trace import otlp_request, run_spans

        service = config.tracing.service_name if config.tracing is not None else "switchyard"

        async def export_trace(run_id: str) -> None:
            spans = await run_spans(engine.runs, run_id)
            await tracing.export_request(otlp_request(spans, service=service), len(spans))

        on_finished = export_trace
    engine = FlowEngine(flows.url.get_secret_value(), client=AsyncClient.over(services), definitions=definitions,
                        worker_concurrency=flows.worker_concurrency, executor_id=flows.executor_id,
                        on_finished=on_finished)
    return await engine.open()


def _slo(config: Config, http: HttpClient) -> SloMonitor | None:
    """The SLO monitor and quality feedback when ``slo:`` is set."""
    if config.slo is None:
        return None
    from switchyard.observe.slo import SloMonitor

    return SloMonitor(config, http)


def _breaker_listeners(shared: BreakerSync | None, slo: SloMonitor | None) -> Callable[[CircuitBreaker], None] | None:
    """What each new breaker is handed to: the shared store's sync, the SLO monitor's alerts."""
    listeners: list[Callable[[CircuitBreaker], None]] = []
    if shared is not None:
        listeners.append(shared.add)
    if slo is not None:
        monitor = slo
        listeners.append(lambda breaker: breaker.subscribe(changed=monitor.breaker_changed))
    if not listeners:
        return None

    def hand(breaker: CircuitBreaker) -> None:
        for listener in listeners:
            listener(breaker)
    return hand


def _audit_log(config: Config, durable: Store) -> AuditLog | None:
    """The audit log in the durable store's database (or memory); with
    ``audit.requests`` a store that keeps no audit (Redis) is a config error."""
    store = audit_store_for(durable)
    if store is None:
        if config.audit.requests:
            raise ConfigError([("audit.requests", "needs storage.url to be sqlite:///…, postgresql://… or "
                                                  "memory:// (a Redis store keeps no audit log)")])
        return None
    return AuditLog(store, config.audit)


def _audited(audit: AuditLog) -> Any:
    """An admin-API listener recording every change in the audit log (who, what, before/after, from where)."""
    async def record(event: Any) -> None:
        who = event.principal
        await audit.admin(who.subject, f"{event.kind}.{event.action}", event.id, before=event.before,
                          after=event.after, source=who.source, role=who.role)
    return record


def _budget_ledger(config: Config, shared: Store, durable: Store, http: HttpClient) -> BudgetLedger | None:
    """Budgets come with the callers' keys (static, or virtual keys with their users, teams and
    tenants), so the ledger exists whenever clients authenticate; its counters are the shared
    store's (``redis:``, else this process) or the durable store's."""
    if not config.authenticates:
        return None
    settings = config.budgets
    counting = durable if settings.counters == "durable" else shared
    alerts = BudgetAlerts(counting.kv, http, timeout=settings.alert_timeout)
    return BudgetLedger(counting.counters, alerts, on_error=settings.on_backend_error)


def _spend_log(config: Config, durable: Store) -> SpendLog | None:
    if not config.spend.records:
        return None
    store = spend_store_for(durable)
    if store is None:  # the config's own check refuses this; a plugin store may keep none either
        raise ConfigError([("spend.records", "needs storage.url to be sqlite:///…, postgresql://… or memory://")])
    return SpendLog(store, config.spend)


async def _read_models_and_batches(config: Config, durable: Store, shared: Store, spend: SpendLog | None,
                                   pipeline: Pipeline, catalog: Catalog, auth: Authenticator,
                                   role: str) -> tuple[Any, Any]:
    """The projector of the read models there are (usage from spend records, batch status), and
    the batches (``batch:``). Imported only when configured: a default gateway loads none of it."""
    if spend is None and config.batch is None:
        return None, None
    settings = config.projections
    engine = getattr(durable, "engine", None)
    if engine is None:  # memory:// (batch: needs a database, the config says so)
        from switchyard.projections.memory import MemoryProjector, MemoryUsageView

        assert spend is not None
        view = MemoryUsageView()
        memory = MemoryProjector(spend.store, view, interval=settings.interval)
        spend.read_model(view, memory)
        return memory, None
    from switchyard.projections.projector import Projector
    from switchyard.storage.migrate import NotMigrated, ensure_migrated

    try:
        await ensure_migrated(durable)  # type: ignore[arg-type]
    except NotMigrated as exc:
        raise ConfigError([("storage.url", str(exc).removeprefix("storage.url: "))]) from None
    projections: list[Any] = []
    if spend is not None:
        from switchyard.projections.usage_view import UsageView

        usage = UsageView(engine)
        projections.append(usage)
    batch_view = None
    if config.batch is not None:
        from switchyard.projections.batch_view import BatchView

        batch_view = BatchView(engine)
        projections.append(batch_view)
    projector = Projector(engine, projections, interval=settings.interval, page=settings.page, wait=settings.wait)
    if spend is not None:
        spend.read_model(usage, projector)
    batches = None
    if config.batch is not None:
        from switchyard.batch.service import BatchService

        assert batch_view is not None
        batches = BatchService(config, durable=durable, shared=shared, pipeline=pipeline, catalog=catalog, auth=auth,
                               projector=projector, view=batch_view, spend=spend, worker_only=role == "worker")
    return projector, batches


def _open_shared(config: Config) -> Store:
    """The store replicas share (``redis:``), else one in this process; no I/O until used."""
    redis = config.redis
    if redis is None:
        return open_store("memory://")
    return open_store(redis.url, prefix=redis.prefix, field="redis.url",
                      connect_timeout=redis.connect_timeout, operation_timeout=redis.operation_timeout)
