"""Answering questions in worker processes, so that bursts use every core.

Python threads share one interpreter lock: with searches on threads, the event loop waits for the
lock between searches, and acknowledging an interaction waits with it. A `SearchPool` starts
`size` worker processes (`index.workers`); each opens the same database and answers the questions
the event loop hands over, one at a time. The event loop only sends a question down a pipe and reads
the answer back when the pipe is readable, so it stays free to acknowledge.

`MemberOrder` keeps each member's answers in the order they asked, whoever answers them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from index import WORKER_START_TIMEOUT, Ask, SearchResponse, start_worker, stop_worker

log = logging.getLogger(__name__)

WORKER_NICENESS = 5
"""Workers run this much below the bot's priority: when the cores are busy, the event loop still
gets the CPU at once to acknowledge interactions (Discord allows 3 s), and searches wait instead."""


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn


class SearchPool:
    """`size` worker processes answering `Store.search` for the event loop; start, search, close."""

    def __init__(self, db_path: str, size: int, learned: bool = False) -> None:
        if size < 1:
            raise ValueError("a search pool needs at least one worker process")
        self.db_path = db_path
        self.size = size
        self.learned = learned
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._starting: set[asyncio.Future[None]] = set()
        self._ready = False

    async def start(self) -> None:
        """Start the workers and wait until each has opened the database."""
        self._idle = asyncio.Queue()
        for _ in range(self.size):
            self._workers.append(_Worker(*start_worker(self.db_path, self.learned, WORKER_NICENESS)))
        for worker in self._workers:
            status, error = await asyncio.wait_for(self._receive(worker), WORKER_START_TIMEOUT)
            if status != "ready":
                await self.close()
                raise error if isinstance(error, BaseException) else RuntimeError(str(error))
            self._idle.put_nowait(worker)
        self._ready = True
        log.info("%d search worker processes ready", self.size)

    @property
    def ready(self) -> bool:
        """Whether every worker has opened the database (until then the bot answers itself)."""
        return self._ready

    async def _receive(self, worker: _Worker) -> tuple[str, object]:
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = worker.conn.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        return worker.conn.recv()  # type: ignore[no-any-return]

    async def search(
        self, question: str, libraries: list[str], k: int = 3, offset: int = 0
    ) -> SearchResponse:
        """`Store.search` in the first idle worker; its errors are raised here."""
        if self._idle is None:
            raise RuntimeError("the search pool is not started")
        worker = await self._idle.get()
        healthy = False
        try:
            worker.conn.send(Ask(question, libraries, k, offset))
            status, value = await self._receive(worker)
            healthy = True
        finally:
            # A worker whose answer was abandoned half-way (cancelled) would hand the next
            # question the old answer: replace it instead of reusing it.
            if healthy:
                self._idle.put_nowait(worker)
            else:
                self._replace(worker)
        if status != "ok":
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    def _replace(self, worker: _Worker) -> None:
        self._stop(worker)
        self._workers.remove(worker)
        fresh = _Worker(*start_worker(self.db_path, self.learned, WORKER_NICENESS))
        self._workers.append(fresh)

        async def ready() -> None:
            status, _ = await self._receive(fresh)
            if status == "ready" and self._idle is not None:
                self._idle.put_nowait(fresh)
            else:
                log.error("a replacement search worker could not open the database")

        task = asyncio.ensure_future(ready())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    @staticmethod
    def _stop(worker: _Worker) -> None:
        stop_worker(worker.process, worker.conn)  # the worker sees EOF and closes its store

    async def close(self) -> None:
        """Stop every worker (each closes its store)."""
        workers, self._workers = self._workers, []
        self._idle = None
        self._ready = False
        await asyncio.gather(*(asyncio.to_thread(self._stop, w) for w in workers))


class MemberOrder:
    """Each member's turns, in the order they were asked for (event loop only)."""

    def __init__(self) -> None:
        self._last: dict[int, asyncio.Future[None]] = {}

    @asynccontextmanager
    async def turn(self, member: int) -> AsyncIterator[None]:
        """Waits until the member's earlier turns are over."""
        previous = self._last.get(member)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[member] = mine
        try:
            if previous is not None:
                await asyncio.shield(previous)  # always set, never raises; our cancel still cancels us
            yield
        finally:
            mine.set_result(None)
            if self._last.get(member) is mine:
                del self._last[member]
