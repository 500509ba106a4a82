"""JSON Schema reduced to the OpenAPI subset Gemini accepts in ``responseSchema`` and
function ``parameters``.

Gemini rejects keys it does not know (``additionalProperties``, ``$schema``,
``strict``, ...), wants type names in capitals, spells "may be null" as
``nullable``, and has no ``$ref``. Local references (``#/$defs/X``,
``#/definitions/X``) are inlined (to a bounded depth; a recursive schema
beyond it becomes an untyped object).
"""

from __future__ import annotations

from typing import Any

_KEPT = frozenset({
    "description", "title", "format", "enum", "required", "minItems", "maxItems", "minLength", "maxLength",
    "pattern", "minimum", "maximum", "minProperties", "maxProperties", "propertyOrdering", "default", "example",
})
_MAX_DEPTH = 16


def to_gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The Gemini ``Schema`` for a JSON Schema object."""
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _convert(schema, defs, 0)


def _convert(schema: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    if depth > _MAX_DEPTH:
        return {"type": "OBJECT"}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        merged = {**(target or {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _convert(merged, defs, depth + 1)
    out: dict[str, Any] = {k: v for k, v in schema.items() if k in _KEPT}
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        if len(non_null) < len(kind):
            out["nullable"] = True
        kind = non_null[0] if non_null else None
    if kind:
        out["type"] = str(kind).upper()
    if "const" in schema:
        out["enum"] = [schema["const"]]
        out.setdefault("type", "STRING")
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _convert(v, defs, depth + 1) for k, v in schema["properties"].items()}
    if "items" in schema:
        out["items"] = _convert(schema["items"], defs, depth + 1)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(kept) < len(variants):
            out["nullable"] = True
        if len(kept) == 1:
            out.update(_convert(kept[0], defs, depth + 1))
        elif kept:
            out["anyOf"] = [_convert(v, defs, depth + 1) for v in kept]
    if "enum" in out and out.get("type") not in (None, "STRING"):
        out["enum"] = [str(v) for v in out["enum"]]
        out["type"] = "STRING"
    elif "enum" in out:
        out["type"] = "STRING"
    return out
