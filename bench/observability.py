"""What observability costs the gateway: ``python -m bench.run --section observability``.

The same source tree served six times side by side — everything off, the
access log alone (the default), metrics alone, metrics and the access log,
tracing alone (exporting every span to a local collector, ``bench/collector.py``),
and all three — under short interleaved c64 rounds (``bench/compare.py``), so a
shared machine's drift hits all alike. Prints req/s, latency and the gateway's
CPU time per request of each; the figures checked are non-streaming req/s with
metrics and the access log on against everything off (target: at least 95%),
and with tracing on against off (at least 90%). A variant is YAML laid over
the config (``VARIANTS``).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from bench.harness import Context, Figure, Row, SectionResult

ROOT = Path(__file__).resolve().parent.parent
OFF = "off"
ON = "both"
#: name (the table's target column) -> YAML appended to the config: off, the access log alone
#: (the default), metrics alone, both.
TRACED = "tracing"
VARIANTS = {
    OFF: "logging: {access_log: false}\n",
    "log": "",
    "metrics": "logging: {access_log: false}\nmetrics: {enabled: true}\n",
    ON: "metrics: {enabled: true}\n",
    TRACED: "logging: {access_log: false}\ntracing: {endpoint: $COLLECTOR}\n",
    "all": "metrics: {enabled: true}\ntracing: {endpoint: $COLLECTOR}\n",
}
#: variant -> the share of off's non-streaming req/s it must keep
TARGETS = {ON: 0.95, TRACED: 0.90}


def observability(ctx: Context) -> SectionResult:
    from bench.compare import compare  # it reads bench.run's config, which lists this section

    rounds = 1 if ctx.duration < 1 else 4
    seconds = max(ctx.duration / 2, 0.5)
    results = compare({name: str(ROOT / "src") for name in VARIANTS}, VARIANTS, rounds, seconds,
                      ("plain", "stream"))
    out = SectionResult()
    medians: dict[tuple[str, str], tuple[float, float]] = {}
    for (name, mode), rounds_of in results.items():
        if not rounds_of:
            ctx.notes.append(f"observability: no successful round for {name} {mode}")
            continue
        rps = statistics.median(r[0] for r in rounds_of)
        cpu = statistics.median(r[1] for r in rounds_of)
        medians[(name, mode)] = (rps, cpu)
        out.rows.append(Row("observability", name, mode, 64, rps,
                            statistics.median(r[2] for r in rounds_of), statistics.median(r[3] for r in rounds_of)))
        ctx.notes.append(f"observability: {name:8} {mode:6} {rps:9,.0f} req/s  CPU {cpu:5.0f} µs/request")
    for variant, target in TARGETS.items():
        for mode in ("plain", "stream"):
            off, on = medians.get((OFF, mode)), medians.get((variant, mode))
            if off is None or on is None:
                continue
            ratio, cpu_ratio = on[0] / off[0], off[1] / on[1]
            checked = mode == "plain" and not math.isnan(ratio)
            out.figures.append(Figure(f"{mode}: {variant} / off", ratio * 100, "% req/s",
                                      f">= {target:.0%}" if mode == "plain" else "(shown)",
                                      ratio >= target if checked else None))
            out.figures.append(Figure(f"{mode}: same, by CPU/request", cpu_ratio * 100, "%", "(shown)", None))
    return out
