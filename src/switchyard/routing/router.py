"""Choosing which deployments of a group serve a request, in order of preference.

For each request, in order::

    rules (pick the alias; the resolve stage)                 routing/rules.py
    -> only the caller's regions, when it is pinned            routing/residency.py
    -> drop deployments lacking a needed capability (400 when none is left)
    -> drop unavailable deployments (health, breakers)        routing/availability.py
    -> balance the rest (the group's strategy)                routing/balancers.py
    -> region preference                                      routing/regions.py
    -> the session's home first (when stickiness is on)       routing/sticky.py

A group with one deployment and models of unknown capabilities skips all but
the availability check, so the default costs next to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchyard.core.call import Call
from switchyard.core.config.routing import RoutingConfig
from switchyard.core.errors import NotFound
from switchyard.core.tokens import TokenCounter
from switchyard.routing.availability import Availability
from switchyard.routing.balancers import Balancer, Pick, balancer_for
from switchyard.routing.capabilities import Capabilities, Needs, capabilities_of, check, needs_of, refuse
from switchyard.routing.catalog import Deployment, ModelGroup
from switchyard.routing.load import LoadTracker
from switchyard.routing.regions import order_by_region
from switchyard.routing.residency import within
from switchyard.routing.rules import Rule, RuleSet
from switchyard.routing.sticky import Members, Sticky
from switchyard.storage import KeyValue

MAX_PLANS = 4096


@dataclass(eq=False)
class GroupPlan:
    """What the router precomputes for one group."""

    group: ModelGroup
    balancer: Balancer
    caps: dict[Deployment, Capabilities] = field(default_factory=dict)
    distinct: set[Capabilities] = field(default_factory=set)
    #: False when every deployment is permissive: no request can be refused.
    checks: bool = False
    tracker: LoadTracker | None = None
    #: The available deployments, asked again only when a health changes.
    availability: Availability = field(init=False)
    #: Deployment lists with their ids and id maps, for stickiness: every deployment,
    #: and the last other list asked for (the available ones, stable until they change).
    _everyone: Members | None = None
    _last_members: Members | None = None

    def __post_init__(self) -> None:
        self.availability = Availability(self.group.deployments)

    def members(self, deployments: list[Deployment]) -> Members:
        """``Members`` of a list the router does not mutate (cached by identity)."""
        weighted = self.balancer.name == "weighted"
        if deployments is self.group.deployments:
            if self._everyone is None:
                self._everyone = Members(deployments, weighted)
            return self._everyone
        last = self._last_members
        if last is None or last.deployments is not deployments:
            last = self._last_members = Members(deployments, weighted)
        return last


class Router:
    """Rules, capability filtering, balancing, region order and stickiness."""

    def __init__(
        self,
        config: RoutingConfig | None = None,
        *,
        tokens: TokenCounter | None = None,
        kv: KeyValue | None = None,
        resolve: Any = None,
        regions: Any = None,
        selectors: Any = None,
    ) -> None:
        self.config = config or RoutingConfig()
        self.tokens = tokens
        #: ``catalog.resolve``, for rules with a cost ceiling.
        self._resolve = resolve
        self.rules: RuleSet | None = RuleSet(self.config.rules, tokens, self._cost_of) if self.config.rules else None
        sticky = self.config.sticky
        self.sticky: Sticky | None = Sticky(sticky, kv) if sticky is not None and sticky.enabled else None
        self._plans: dict[str, GroupPlan] = {}
        #: Region preference (``routing/regions.py``), or None.
        self.regions = regions
        #: The selectors of rules with ``select:`` (``routing/selection.py``), or None.
        self.selectors = selectors

    # -- plans ---------------------------------------------------------------
    def plan(self, group: ModelGroup) -> GroupPlan:
        plan = self._plans.get(group.alias)
        if plan is not None and plan.group is group:
            return plan
        strategy = getattr(group.config, "strategy", "round_robin")
        balancer = balancer_for(strategy, self.config.latency)
        plan = GroupPlan(group, balancer)
        for deployment in group.deployments:
            plan.caps[deployment] = caps = capabilities_of(deployment.config)
            plan.distinct.add(caps)
            if not caps.permissive:
                plan.checks = True
        if len(group.deployments) > 1:
            plan.tracker = LoadTracker(streams_inflight=balancer.streams_inflight)
        if len(self._plans) >= MAX_PLANS:
            self._plans.pop(next(iter(self._plans)))
        self._plans[group.alias] = plan
        return plan

    def tracker(self, group: ModelGroup) -> LoadTracker | None:
        """The load hooks for ``group`` (None when it has a single deployment)."""
        return self.plan(group).tracker

    # -- rules -----------------------------------------------------------------
    @property
    def selects(self) -> bool:
        """Whether some rule chooses its alias by the request's content (resolving then awaits it)."""
        return bool(self.selectors)

    def route(self, model: str, request: Any, call: Call) -> str:
        """The alias to serve ``model`` with, after the rules; sets the route headers."""
        rule: Rule | None = self.rules.match(model, request, call) if self.rules else None
        if rule is None:
            call.route["route"] = model
            return model
        call.route["route"] = rule.route
        call.route["rule"] = rule.name
        if rule.config.route_tags:
            call.tags = tuple(rule.config.route_tags)
        return rule.route

    async def route_selected(self, model: str, request: Any, call: Call) -> str:
        """``route``, with a selecting rule's choice awaited (``routing/selection.py``)."""
        rule: Rule | None = self.rules.match(model, request, call) if self.rules else None
        if rule is None or rule.config.select is None or not self.selectors:
            return self._routed(model, rule, rule.route if rule is not None else model, call)
        choice, _ = await self.selectors.choose(rule.name, request, call)
        call.route["selection"] = choice.header()
        return self._routed(model, rule, choice.route, call)

    def _routed(self, model: str, rule: Rule | None, alias: str, call: Call) -> str:
        if rule is None:
            call.route["route"] = model
            return model
        call.route["route"] = alias
        call.route["rule"] = rule.name
        if rule.config.route_tags:
            call.tags = tuple(rule.config.route_tags)
        return alias

    def _cost_of(self, alias: str, prompt_tokens: int, output_tokens: int) -> float | None:
        """Cheapest estimated cost of a request on ``alias`` (None when unknown or unpriced)."""
        if self._resolve is None:
            return None
        try:
            group = self._resolve(alias)
        except Exception:
            return None
        output = output_tokens or self.config.expected_output_tokens
        costs = [d.load.quote(prompt_tokens, output) for d in group.deployments if d.load.priced]
        return min(costs) if costs else None

    # -- candidates --------------------------------------------------------------
    async def order(self, group: ModelGroup, request: Any, call: Call) -> list[Deployment]:
        """``candidates``, then the session's home first when stickiness is on."""
        if self.sticky is None:
            return self._candidates(group, request, call)[0]
        candidates, capable, available = self._candidates(group, request, call)
        return await self._stick(group, request, call, candidates, capable, available)

    def candidates(self, group: ModelGroup, request: Any, call: Call) -> list[Deployment]:
        """Deployments to try, best first: capable and available ones in balancing
        order, then by region preference; unavailable ones only when nothing else is left.
        Raises ``CapabilityMissing`` / ``ContextWindowExceeded`` when no deployment can serve it."""
        return self._candidates(group, request, call)[0]

    def _candidates(self, group: ModelGroup, request: Any, call: Call
                    ) -> tuple[list[Deployment], list[Deployment], list[Deployment] | None]:
        """``(ordered, capable, available)``: the candidates, and for stickiness the
        capable and the available ones, unordered (None when not worked out)."""
        plan = self.plan(group)
        unordered: list[Deployment] | None = None
        deployments = group.deployments
        if call.tags and call.route.get("route") == group.alias:  # a rule's route_tags (not its fallbacks')
            deployments = tagged(deployments, call.tags, group.alias)
        regions = getattr(call.caller, "regions", None)
        if regions is not None:  # data residency (routing/residency.py): nothing outside the caller's regions
            deployments = within(deployments, regions, group.alias)
        needs: Needs | None = None
        if plan.checks:
            needs = needs_of(request)
            deployments = self._capable(plan, deployments, needs, request)
        if len(deployments) == 1:
            available = deployments if deployments[0].health.available else []
        else:
            available = plan.availability.current()  # shared: never mutated, never handed out
            if deployments is not group.deployments:  # some are not capable of this request
                capable = set(deployments)
                available = [d for d in available if d in capable]
            unordered = available
            if len(available) == 1:
                available = list(available)
            elif len(available) > 1:
                available = plan.balancer.order(available, self._pick(plan, request, needs))
        ordered = order_by_region(available, call, self.regions)
        return ordered or deployments, deployments, unordered

    def _capable(self, plan: GroupPlan, deployments: list[Deployment], needs: Needs, request: Any) -> list[Deployment]:
        # Deployments share a few distinct Capabilities values: check each value once.
        # (A list, not a dict: hashing a Capabilities runs Python code.)
        verdicts = [(caps, check(caps, needs, request, self.tokens)) for caps in plan.distinct]
        reasons = [why for _, why in verdicts if why is not None]
        if not reasons:
            return deployments
        refused = {caps for caps, why in verdicts if why is not None}
        caps_of = plan.caps
        capable = [d for d in deployments if caps_of[d] not in refused]
        if not capable:
            windows = [c.context_window for c in plan.distinct if c.context_window is not None]
            outputs = [c.max_output_tokens for c in plan.distinct if c.max_output_tokens is not None]
            raise refuse(plan.group.alias, reasons[0], needs, max(windows) if windows else None,
                         max(outputs) if outputs else None)
        return capable

    def _pick(self, plan: GroupPlan, request: Any, needs: Needs | None) -> Pick:
        if plan.balancer.name not in ("cost", "headroom"):
            return Pick(stream=bool(getattr(request, "stream", False)))
        if needs is None:
            needs = needs_of(request)
        return Pick(needs.rough_tokens, needs.output_tokens or self.config.expected_output_tokens,
                    bool(getattr(request, "stream", False)))

    def estimated_tokens(self, request: Any) -> int:
        """A rough prompt-token estimate, for the rate window of the headroom strategy."""
        return needs_of(request).rough_tokens

    # -- stickiness -------------------------------------------------------------
    async def _stick(self, group: ModelGroup, request: Any, call: Call, candidates: list[Deployment],
                     capable_list: list[Deployment], unordered: list[Deployment] | None) -> list[Deployment]:
        """``candidates`` with the session's home first (unchanged without a session id)."""
        sticky = self.sticky
        if sticky is None or len(candidates) < 2:
            return candidates
        session = sticky.session(request, call.headers)
        if session is None:
            return candidates
        plan = self.plan(group)
        capable = plan.members(capable_list)
        # The available ones (or, when none is, every capable one), unordered.
        available = plan.members(unordered) if unordered else capable
        # The static strategies place a new session by the (weighted) hash; the others by their own choice.
        preferred = None if plan.balancer.name in ("round_robin", "weighted") else candidates[0]
        home, how = await sticky.home(group.alias, session, capable, available, preferred)
        call.route["session"] = how
        if candidates[0] is home:
            return candidates
        ordered = list(candidates)
        try:
            ordered.remove(home)  # by identity: deployments compare by identity
        except ValueError:
            pass
        ordered.insert(0, home)
        return ordered


def tagged(deployments: list[Deployment], tags: tuple[str, ...], alias: str) -> list[Deployment]:
    """The deployments carrying every one of ``tags``; NotFound when none does."""
    wanted = set(tags)
    out = [d for d in deployments if wanted <= set(d.config.tags)]
    if not out:
        raise NotFound(f"No deployment of `{alias}` carries the tags {sorted(wanted)} a routing rule asks for.",
                       param="model", code="model_not_found")
    return out
