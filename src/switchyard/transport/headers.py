"""Response headers: case-insensitive, order-preserving, multi-valued."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers:
    """Headers of an upstream response as received.

    Lookup is case-insensitive; a name sent several times keeps every value
    (``get_list``), ``get`` answers the first. Names are decoded lazily on the
    first lookup, because most responses on the hot path are never inspected.
    """

    __slots__ = ("_raw", "_items")

    def __init__(self, raw: list[tuple[bytes, bytes]] | None = None) -> None:
        self._raw = raw if raw is not None else []
        self._items: list[tuple[str, str]] | None = None

    @classmethod
    def from_items(cls, items: list[tuple[str, str]] | dict[str, str]) -> Headers:
        """Build from ``(name, value)`` string pairs (or a dict), e.g. in tests."""
        pairs = items.items() if isinstance(items, dict) else items
        return cls([(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs])

    def _decoded(self) -> list[tuple[str, str]]:
        items = self._items
        if items is None:
            items = self._items = [
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in self._raw
            ]
        return items

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (any case), or ``default``."""
        name = name.lower()
        for k, v in self._decoded():
            if k == name:
                return v
        return default

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name`` in the order received."""
        name = name.lower()
        return [v for k, v in self._decoded() if k == name]

    def select(self, names: Mapping[str, str], raw_names: Mapping[bytes, str] | None = None) -> dict[str, str]:
        """``{names[name]: value}`` for the headers ``names`` maps (lowercase keys; the
        last value of a repeated one wins), decoding only those: nothing is cached,
        so a response held open (a stream) keeps no decoded copy of its headers.
        ``raw_names``: the same map keyed by the names' bytes, which spares decoding
        the names of the headers not kept (the caller makes it once)."""
        if self._items is not None:
            return {names[k]: v for k, v in self._items if k in names}
        out = {}
        if raw_names is not None:
            for k, v in self._raw:
                name = raw_names.get(k.lower())
                if name is not None:
                    out[name] = v.decode("latin-1")
            return out
        for k, v in self._raw:
            name = names.get(k.decode("latin-1").lower())
            if name is not None:
                out[name] = v.decode("latin-1")
        return out

    def items(self) -> list[tuple[str, str]]:
        """``(lowercased name, value)`` pairs in the order received."""
        return list(self._decoded())

    def keys(self) -> list[str]:
        return [k for k, _ in self._decoded()]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._decoded() == other._decoded()
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._decoded()!r})"
