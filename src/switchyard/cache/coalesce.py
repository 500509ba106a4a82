"""The answers in flight in this process, by what they answer, and streams by request id.

``Flights`` maps ``(partition, key)`` to the unary or stream flight answering it
(``cache/flight.py``), so an identical request that arrives meanwhile joins it
instead of going upstream, and ``(tenant partition, request id)`` to each
stream in flight, for ``GET /v1/streams/{request_id}``. At most
``max_in_flight`` flights are shared at once: past that, a request goes alone
(it is still answered from, and kept in, the cache). A flight leaves the maps
when its answer is complete: a request after that finds the entry instead.
"""

from __future__ import annotations

from switchyard.cache.flight import StreamFlight, UnaryFlight


class Flights:
    """See the module docstring."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        #: A unary request in flight; None until an identical request joins it (the flight is made then).
        self.unary: dict[tuple[str, bytes], UnaryFlight | None] = {}
        self.streams: dict[tuple[str, bytes], StreamFlight] = {}
        #: ``(tenant partition, request id)`` -> a stream in flight (coalesced or not).
        self.by_id: dict[tuple[str, str], StreamFlight] = {}

    def room(self) -> bool:
        return len(self.unary) + len(self.streams) < self.max_in_flight

    def name(self, tenant: str, request_id: str, flight: StreamFlight) -> None:
        """Make ``flight`` joinable by ``request_id`` within ``tenant`` (bounded like the flights)."""
        where = (tenant, request_id)
        if len(self.by_id) < 2 * self.max_in_flight and where not in self.by_id and not flight.done:
            self.by_id[where] = flight
            flight.names.append(where)

    def release(self, flight: StreamFlight, where: tuple[str, bytes] | None = None) -> None:
        """``flight`` ended: no longer shared under ``where``, nor joinable by its names."""
        if where is not None and self.streams.get(where) is flight:
            del self.streams[where]
        by_id = self.by_id
        for name in flight.names:
            if by_id.get(name) is flight:
                del by_id[name]
        flight.names.clear()
