"""The routing dry-run: for one request, which rule matches, the candidates with
their scores, and the deployment that would be chosen and why. Nothing is
called upstream and no state changes (round-robin turns, the sticky table) —
except a classifier rule's question to its classifier, which decides the alias
(``selection``: the route, its similarity or label, the alternatives).

Served by ``POST /admin/route`` and ``switchyard route --config FILE --request JSON``.
"""

from __future__ import annotations

import time
from typing import Any

from switchyard.core.call import Call
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import validate_chat, validate_embedding
from switchyard.routing.balancers import Balancer, LatencyBalancer, balancer_for
from switchyard.routing.capabilities import check, needs_of
from switchyard.routing.catalog import Catalog
from switchyard.routing.router import Router


def parse_request(body: dict[str, Any]) -> Any:
    """A chat request (``messages``) or an embeddings request (``input``)."""
    if "messages" not in body and "input" in body:
        return validate_embedding(body)
    return validate_chat(body)


async def explain(router: Router, catalog: Catalog, body: dict[str, Any], call: Call) -> dict[str, Any]:
    """The routing decision for ``body`` as plain JSON-able data."""
    request = parse_request(body)
    report: dict[str, Any] = {"requested_model": request.model}
    alias = request.model
    if router.rules is not None:
        steps = router.rules.explain(request.model, request, call)
        report["rules"] = steps
        matched = steps[-1] if steps and steps[-1]["matched"] else None
        report["rule"] = matched["rule"] if matched else None
        if matched:
            alias = matched["route"]
            rule = next(r for r in router.rules.rules if r.name == matched["rule"])
            if rule.config.select is not None and router.selectors:
                # the selector decides (a classifier rule asks its classifier: the one call made here)
                choice, method = await router.selectors.choose(rule.name, request, call)
                report["selection"] = choice.report(method)
                alias = matched["route"] = choice.route
            router._routed(request.model, rule, alias, call)  # the route headers and the rule's route_tags
            if call.tags:
                report["route_tags"] = list(call.tags)
    else:
        report["rule"] = None
    report["alias"] = alias
    try:
        group = catalog.resolve(alias)
    except SwitchyardError as exc:
        report["error"] = {"status": exc.status, "message": exc.message}
        return report
    plan = router.plan(group)
    needs = needs_of(request)
    report["strategy"] = plan.balancer.name
    report["needs"] = {"abilities": list(needs.abilities), "prompt_tokens_estimate": needs.rough_tokens,
                       "output_tokens": needs.output_tokens}
    pick = router._pick(plan, request, needs)
    now = time.monotonic()
    rows = []
    for deployment in group.deployments:
        missing = check(plan.caps[deployment], needs, request, router.tokens)
        score = plan.balancer.score(deployment, pick, now)
        rows.append({
            "id": deployment.id,
            "provider": deployment.provider_name,
            "model": deployment.upstream_model,
            "region": deployment.region,
            "weight": deployment.weight,
            "tags": list(deployment.config.tags),
            "available": deployment.health.available,
            "capable": missing is None,
            "missing": missing,
            "score": "unpriced" if plan.balancer.name == "cost" and not deployment.load.priced else score,
            "load": deployment.load.snapshot(),
        })
    report["candidates"] = rows
    try:
        # A fresh balancer of the same kind: the live one's turn is not advanced,
        # and the latency strategy does not explore here.
        probe = balancer_for(plan.balancer.name, router.config.latency)
        if isinstance(probe, LatencyBalancer):
            probe.explore = 0.0
        planned = _ordered(router, plan, group, request, call, probe)
    except SwitchyardError as exc:
        report["error"] = {"status": exc.status, "type": exc.type, "code": exc.code, "message": exc.message}
        report["chosen"] = None
        return report
    why = plan.balancer.reason()
    session = router.sticky.session(request, call.headers) if router.sticky is not None else None
    if session is not None and len(planned) > 1:
        available = [d for d in planned if d.health.available] or planned
        capable = [d for d in group.deployments if check(plan.caps[d], needs, request, router.tokens) is None]
        preferred = None if plan.balancer.name in ("round_robin", "weighted") else planned[0]
        home, how = await router.sticky.peek(group.alias, session, plan.members(capable),  # type: ignore[union-attr]
                                             plan.members(available), preferred)
        planned = [home, *(d for d in planned if d is not home)]
        report["session"] = {"id": session, "home": home.id, "how": how}
        why = {"kept": "the session's recorded home", "hashed": "the session's consistent-hash home",
               "placed": "a new session: where the strategy sends it, then kept",
               "moved": "the session's home is unavailable: moved to the next by hash"}[how]
    report["order"] = [d.id for d in planned]
    report["chosen"] = planned[0].id if planned else None
    report["why"] = why if len(planned) > 1 else "the only capable deployment"
    return report


def _ordered(router: Router, plan: Any, group: Any, request: Any, call: Call, balancer: Balancer) -> list[Any]:
    live = plan.balancer
    plan.balancer = balancer
    try:
        return router.candidates(group, request, call)
    finally:
        plan.balancer = live
