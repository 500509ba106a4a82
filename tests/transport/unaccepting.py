"""A loopback port that never completes a TCP handshake: a listening socket
whose accept queue is full, so the kernel drops further SYNs and a connect
hangs until the client gives up (a blackholed upstream, without a network)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def unaccepting_port() -> Iterator[int]:
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # accept queue of one; never accepted
        port = listener.getsockname()[1]
        for _ in range(4):  # fill the queue; later SYNs (ours included) are dropped
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
