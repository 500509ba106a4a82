"""Trim OpenAI's published OpenAPI spec to the operations the gateway implements.

    git -C <clone of github.com/openai/openai-openapi> show <commit>:openapi.yaml > /tmp/openapi.yaml
    python tests/server/openapi/trim.py /tmp/openapi.yaml <commit> > tests/server/openapi/openai-subset.json

Keeps ``POST /chat/completions``, ``POST /completions``, ``POST /embeddings``,
``GET /models`` and ``GET /models/{model}`` and every schema they reach through
``$ref``; the source and commit are recorded under ``info``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

OPERATIONS = {"/chat/completions": ["post"], "/completions": ["post"], "/embeddings": ["post"],
              "/models": ["get"], "/models/{model}": ["get"]}


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _strip(node: Any) -> Any:
    """Drop documentation-only keys that make the file large and say nothing to a validator."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("x-oaiMeta", "x-stainless-const", "examples")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def trim(spec: dict[str, Any], commit: str) -> dict[str, Any]:
    paths = {path: {method: spec["paths"][path][method] for method in methods}
             for path, methods in OPERATIONS.items()}
    components: dict[str, dict[str, Any]] = {}
    todo = _refs(paths)
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        todo |= _refs(node)
    components["securitySchemes"] = spec["components"]["securitySchemes"]
    info = dict(spec["info"])
    info["x-source"] = {"repository": "https://github.com/openai/openai-openapi", "path": "openapi.yaml",
                        "commit": commit, "trimmed_by": "tests/server/openapi/trim.py"}
    return _strip({"openapi": spec["openapi"], "info": info, "servers": spec["servers"],
                   "security": spec.get("security", []), "paths": paths, "components": components})


if __name__ == "__main__":
    with open(sys.argv[1]) as source:
        full = yaml.safe_load(source)
    json.dump(trim(full, sys.argv[2]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
