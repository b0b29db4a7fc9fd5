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
import collections
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from index import WORKER_START_TIMEOUT, Ask, SearchResponse, WorkerFailed, start_worker

log = logging.getLogger(__name__)

WORKER_NICENESS = 5
"""Workers run this much below the bot's priority: when the cores are busy, the event loop still
gets the CPU at once to acknowledge interactions (Discord allows 3 s), and searches wait instead."""
QUESTION_TIMEOUT = 30.0
"""Seconds a worker may take over one question (searches take milliseconds): after that the question
fails with an apology and the worker is replaced, so a hung worker never keeps a member waiting."""
STOP_GRACE = 5.0
"""Seconds a worker has to close its store when the pool closes, before it is killed."""
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds before each new try at starting a replacement worker that could not start (the database
unavailable, say); the last delay repeats while the pool is open. Meanwhile the bot answers itself."""

TIMED_OUT = "Sorry, that search took longer than {seconds:g} s and was stopped; please try again."
STOPPED = "Sorry, the search process answering that question stopped; please try again."
UNAVAILABLE = "No search worker is running; the question was not handed over."
CLOSED = "Sorry, the bot is restarting and could not finish that search; please ask again in a minute."


class PoolUnavailable(WorkerFailed):
    """No worker is running to take a question (it was not handed over): answer it another way."""


class _Stopped(Exception):
    """A worker's pipe closed: the process ended."""


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False
        """Said it opened the database (counted among the pool's live workers until it ends)."""
        self.busy = False
        """Taken for a question: from being handed it (before it is sent) until its answer is read.
        Closing the pool kills a busy worker and fails its question with `WorkerFailed`."""
        self.receiving: asyncio.Future[None] | None = None
        """While the event loop waits for this worker's pipe: woken by it, or failed when it ends."""


class SearchPool:
    """`size` worker processes answering `Store.search` for the event loop; start, search, close.

    A worker that takes longer than `question_timeout` over a question, dies, or whose question is
    cancelled is killed and replaced; while no worker is live, `ready` is false (the bot then answers
    itself) and a replacement that cannot start is tried again after `RESTART_DELAYS`."""

    def __init__(
        self,
        db_path: str,
        size: int,
        learned: bool = False,
        question_timeout: float = QUESTION_TIMEOUT,
        log_setup: Callable[[], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a search pool needs at least one worker process")
        self.db_path = db_path
        self.size = size
        self.learned = learned
        self.question_timeout = question_timeout
        self.log_setup = log_setup
        """Called first in each worker process (picklable): it starts with no logging set up."""
        self._workers: list[_Worker] = []
        """Every worker started and not yet ended: starting, idle or answering."""
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[_Worker]] = collections.deque()
        """Questions waiting for a worker, first come first served."""
        self._live = 0
        self._replacing: set[asyncio.Task[None]] = set()
        self._ending: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Start the workers and wait until each has opened the database; if one cannot, stop them
        all and raise why."""
        if self._started or self._closed:
            raise RuntimeError("a search pool starts once")
        try:
            for _ in range(self.size):
                self._launch()
            for worker in list(self._workers):
                try:
                    status, error = await asyncio.wait_for(self._receive(worker), WORKER_START_TIMEOUT)
                except TimeoutError:
                    raise WorkerFailed(
                        f"a search worker did not open the database within {WORKER_START_TIMEOUT:.0f} s"
                    ) from None
                except _Stopped:
                    raise WorkerFailed(
                        f"a search worker process stopped while opening the database (exit code"
                        f" {worker.process.exitcode})"
                    ) from None
                if status != "ready":
                    raise error if isinstance(error, BaseException) else WorkerFailed(str(error))
                self._now_ready(worker)
        except BaseException:
            await self.close()
            raise
        self._started = True
        log.info("%d search worker processes ready", self.size)

    @property
    def ready(self) -> bool:
        """Whether every worker opened the database at start and at least one is still live (until
        then, and whenever none is, the bot answers itself)."""
        return self._started and not self._closed and self._live > 0

    async def search(
        self, question: str, libraries: list[str], k: int = 3, offset: int = 0
    ) -> SearchResponse:
        """`Store.search` in the first idle worker; its errors are raised here. `WorkerFailed` if
        the worker takes longer than `question_timeout`, dies, or the pool closes meanwhile;
        `PoolUnavailable` (a `WorkerFailed`) if no worker is live to take the question."""
        if not self._started and not self._closed:
            raise RuntimeError("the search pool is not started")
        ask = Ask(question, libraries, k, offset)
        while True:
            worker = await self._take()  # marked busy: close() from here on fails this question
            if worker.conn.closed:  # ended by close() after it was handed over, before this step
                raise WorkerFailed(CLOSED)
            try:
                worker.conn.send(ask)
                break
            except OSError:  # it died while idle: the question was not handed over, try another
                log.warning("a search worker process ended while idle; replacing it")
                self._replace(worker)
        try:
            # wait_for starts `_receive` a loop step later: a close() in between ends the (busy)
            # worker and closes its pipe, which `_receive` reports as WorkerFailed(CLOSED).
            status, value = await asyncio.wait_for(self._receive(worker), self.question_timeout)
        except TimeoutError:
            log.warning(
                "a search worker took longer than %g s over a question; replacing it", self.question_timeout
            )
            self._replace(worker)
            raise WorkerFailed(TIMED_OUT.format(seconds=self.question_timeout)) from None
        except _Stopped:
            log.warning("a search worker process ended while answering a question; replacing it")
            self._replace(worker)
            raise WorkerFailed(STOPPED) from None
        except BaseException:
            # Failed by close(), or cancelled: a worker whose answer was abandoned half-way would
            # hand the next question the old answer, so it is replaced instead of reused.
            self._replace(worker)
            raise
        self._hand_over(worker)
        if status != "ok":
            raise value if isinstance(value, BaseException) else WorkerFailed(str(value))
        return value  # type: ignore[return-value]

    async def _take(self) -> _Worker:
        """The first idle worker, waiting for one if every live worker is answering."""
        if self._closed:
            raise WorkerFailed(CLOSED)
        if self._idle:
            worker = self._idle.popleft()
            worker.busy = True
            return worker
        if self._live == 0:
            raise PoolUnavailable(UNAVAILABLE)
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._hand_over(waiter.result())  # handed over just as we were cancelled
            raise

    def _hand_over(self, worker: _Worker) -> None:
        """A ready worker is free: to the first question waiting (busy from now on), or idle."""
        if worker not in self._workers:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                worker.busy = True
                waiter.set_result(worker)
                return
        worker.busy = False
        self._idle.append(worker)

    def _fail_waiters(self, error: WorkerFailed) -> None:
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    async def _receive(self, worker: _Worker) -> tuple[str, object]:
        """The worker's next message, read once its pipe is readable (the loop stays free).

        `WorkerFailed` (CLOSED) if the pool ended the worker before or while waiting (its pipe
        closed by close()); `_Stopped` if the process ended."""
        if worker.conn.closed:
            raise WorkerFailed(CLOSED) if self._closed else _Stopped()
        loop = asyncio.get_running_loop()
        fd = worker.conn.fileno()
        readable = _when_readable(fd)
        worker.receiving = readable
        try:
            await readable
        finally:
            worker.receiving = None
            if not worker.conn.closed:
                loop.remove_reader(fd)
        try:
            return worker.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            raise _Stopped() from None

    def _launch(self) -> _Worker:
        # Spawning takes a millisecond or two: the new process reads its task from a pipe.
        worker = _Worker(*start_worker(self.db_path, self.learned, WORKER_NICENESS, self.log_setup))
        self._workers.append(worker)
        return worker

    def _now_ready(self, worker: _Worker) -> None:
        worker.ready = True
        self._live += 1
        self._hand_over(worker)

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker that failed or was abandoned, and start another unless the pool closed."""
        if worker not in self._workers:  # already ended: the pool closed meanwhile
            return
        self._end(worker, grace=0.0)
        if not self._closed:
            task = asyncio.ensure_future(self._start_replacement())
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)

    async def _start_replacement(self) -> None:
        """Start one worker; each time it cannot open the database, try again after the next delay."""
        for failures in itertools.count():
            if self._closed:
                return
            worker = self._launch()
            reason: object
            try:
                status, reason = await asyncio.wait_for(self._receive(worker), WORKER_START_TIMEOUT)
            except TimeoutError:
                status, reason = "error", f"it did not open the database within {WORKER_START_TIMEOUT:.0f} s"
            except _Stopped:
                status, reason = "error", f"the process stopped, exit code {worker.process.exitcode}"
            except WorkerFailed:  # failed by close()
                return
            if self._closed:
                return
            if status == "ready":
                self._now_ready(worker)
                if failures:
                    log.info("a replacement search worker started after %d failed tries", failures)
                return
            self._end(worker, grace=0.0)
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.error("a replacement search worker could not start (%s); trying again in %g s", reason, delay)
            await asyncio.sleep(delay)

    def _end(self, worker: _Worker, grace: float) -> None:
        """Take a worker out of the pool and close its pipe (it sees EOF, closes its store and exits);
        it is killed if it has not exited after `grace` seconds, waited for off the event loop."""
        self._workers.remove(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        if worker.ready:
            worker.ready = False
            self._live -= 1
            if self._live == 0 and not self._closed:
                self._fail_waiters(PoolUnavailable(UNAVAILABLE))
        if worker.receiving is not None and not worker.receiving.done():
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
            worker.receiving.set_exception(WorkerFailed(CLOSED))
        worker.conn.close()
        task = asyncio.ensure_future(self._reap(worker.process, grace))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    @staticmethod
    async def _reap(process: BaseProcess, grace: float) -> None:
        if grace > 0 and await _exits(process, grace):
            return
        process.kill()  # also ends a stopped (SIGSTOP) process, which SIGTERM would not
        if not await _exits(process, STOP_GRACE):
            log.error("search worker process %s did not end when killed", process.pid)

    async def close(self) -> None:
        """Fail the questions in flight or waiting (`WorkerFailed`), stop every worker (an idle one
        closes its store, or is killed after `STOP_GRACE` s; a busy one is killed) and wait until
        they have all ended."""
        self._closed = True
        self._fail_waiters(WorkerFailed(CLOSED))
        for worker in list(self._workers):
            # Killed at once: one busy over a question (now failed; perhaps not yet sent) would not
            # see the pipe close until it is done, and one still starting is no use any more.
            self._end(worker, 0.0 if worker.busy or worker.receiving is not None else STOP_GRACE)
        for task in self._replacing:
            task.cancel()
        while self._replacing or self._ending:
            await asyncio.gather(*self._replacing, *self._ending, return_exceptions=True)


def _when_readable(fd: int) -> asyncio.Future[None]:
    """A future set once `fd` is readable, watched by the event loop (the caller removes the reader)."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, wake)
    return readable


async def _exits(process: BaseProcess, within: float) -> bool:
    """Whether the process ended within `within` seconds; its sentinel is watched by the event loop
    (no thread, no blocking join), then its exit status collected."""
    loop = asyncio.get_running_loop()
    ended = _when_readable(process.sentinel)
    try:
        await asyncio.wait_for(ended, within)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(process.sentinel)
    # The sentinel closes as the process exits; its exit status follows within moments.
    for _ in range(100):
        if process.exitcode is not None:
            break
        await asyncio.sleep(0.01)
    process.join(0)
    return True


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
