"""Bounded reads for ``python -m grader serve``: each request's head must arrive within ``head_timeout`` seconds of
its first byte (or of the connection opening), its body within ``body_timeout`` of the head, and a head may not
exceed ``max_head_bytes``; otherwise the connection is closed.

uvicorn bounds only the idle time between two requests (``timeout_keep_alive``). A client that opens a connection
and sends nothing, or its head a byte at a time, or never finishes its body, holds a file descriptor and a
connection slot as long as it likes: 200 such connections held for 45 s took a server from 25 open files to 225.
This is uvicorn's own protocol (httptools, else h11) with one timer per request on top; ``serve`` passes it as
uvicorn's ``http`` protocol with the limits bound (``functools.partial``, which the worker processes can unpickle).
"""
from __future__ import annotations

import asyncio

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class BoundedReads(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol with a deadline on reading each request (head, then body)."""

    def __init__(self, *args, head_timeout: float, body_timeout: float, max_head_bytes: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout, self.body_timeout, self.max_head_bytes = head_timeout, body_timeout, max_head_bytes
        self._timer: asyncio.TimerHandle | None = None
        self._reading: str | None = None      # "head", "body" or None (between requests: keep-alive's business)
        self._cycle = None                    # the request whose body is being read (or the last one seen)
        self._head_bytes = 0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._read_head()

    def data_received(self, data: bytes) -> None:
        if self._reading is None:             # the first bytes of the next request on a kept-alive connection
            self._read_head()
        if self._reading == "head":
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            self._stop()
            return
        cycle = self.cycle
        if cycle is not None and cycle is not self._cycle:      # a new request's head was parsed
            self._cycle = cycle
            if cycle.more_body:
                self._arm("body", self.body_timeout)
            else:
                self._stop()
        elif self._reading == "body" and not cycle.more_body:
            self._stop()
        elif self._reading == "head" and self._head_bytes > self.max_head_bytes:
            self._expire()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _read_head(self) -> None:
        self._head_bytes = 0
        self._arm("head", self.head_timeout)

    def _arm(self, what: str, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._reading = what
        self._timer = self.loop.call_later(seconds, self._expire)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._reading = None, None

    def _expire(self) -> None:
        self._stop()
        if not self.transport.is_closing():
            self.transport.close()
