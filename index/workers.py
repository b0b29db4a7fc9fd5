"""Answering questions in worker processes, so that many questions use every core.

Python threads share one interpreter lock, so searches on threads take turns. A worker process
opens the same database with its own `Store` (it memory-maps the same index cache read-only and
follows the change log, as every process does) and answers the questions sent down its pipe, one
at a time, in order. The bot's pool (bot/pool.py) hands questions over from its event loop;
`SearchWorkers` answers a stream of questions (the CLI's `ask -`) in the order they came.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from .errors import ClippingsError
from .models import SearchResponse
from .rank.semantic import load_encoder
from .store import Store

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0
"""Seconds a worker may take to open the database (a large index cache is read at start)."""
IN_FLIGHT = 2
"""Questions handed to each worker ahead of its answers, so that it never waits for the next."""
STOP_GRACE = 5.0
"""Seconds a closing worker has to exit once its pipe is closed, and again once it is terminated."""
KILL_WAIT = 5.0
"""Seconds to wait for a killed worker to be gone (SIGKILL cannot be ignored: moments)."""


@dataclass(frozen=True, slots=True)
class Ask:
    """One question for a worker: `Store.search(question, libraries, k, offset)`."""

    question: str
    libraries: list[str]
    k: int = 3
    offset: int = 0


class WorkerFailed(ClippingsError):
    """A worker process stopped without answering, or could not start."""


def serve(
    db_path: str, learned: bool, niceness: int, conn: Connection, log_setup: Callable[[], None] | None = None
) -> None:
    """A worker's life: open the database, say so, then answer until the pipe closes. A spawned
    process starts with no logging set up: `log_setup` (picklable) sets it up as the parent's."""
    if log_setup is not None:
        log_setup()
    # Ctrl-C reaches the whole process group: the parent handles it and closes the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if niceness:
        os.nice(niceness)
    try:
        # One rank thread: the workers already answer on every core between them.
        store = Store(db_path, encoder=load_encoder() if learned else None, rank_threads=1)
        store.warm()
    except Exception as exc:  # the parent reports it and stops
        with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
            conn.send(("error", exc))
        return
    try:
        conn.send(("ready", None))
    except (EOFError, OSError):  # the parent finished before this worker was ready
        store.close_without_saving()
        return
    try:
        while True:
            try:
                ask = conn.recv()
            except (EOFError, OSError):  # the parent closed the pipe, or is gone
                return
            try:
                answer: tuple[str, object] = (
                    "ok",
                    store.search(ask.question, ask.libraries, ask.k, ask.offset),
                )
            except Exception as exc:
                answer = ("error", exc)
            try:
                conn.send(answer)
            except (EOFError, OSError):  # the parent stopped listening, or is gone
                return
            except Exception as exc:  # an error that cannot be sent as it is
                try:
                    conn.send(("error", WorkerFailed(f"{type(exc).__name__}: {exc}")))
                except OSError:  # the parent is gone
                    return
    finally:
        store.close_without_saving()  # the parent's own store saves the index cache


def start_worker(
    db_path: str, learned: bool, niceness: int = 0, log_setup: Callable[[], None] | None = None
) -> tuple[BaseProcess, Connection]:
    """A started worker process (spawned: no copy of the parent's threads) and its end of the pipe;
    it calls `log_setup` first (see `serve`)."""
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    process = context.Process(
        target=serve,
        args=(db_path, learned, niceness, theirs, log_setup),
        daemon=True,
        name="clippings-search",
    )
    process.start()
    theirs.close()
    return process, mine


def stop_worker(process: BaseProcess, conn: Connection, grace: float = STOP_GRACE) -> None:
    """Close the pipe (the worker closes its store and exits). A worker still alive `grace` seconds
    later is terminated, and one still alive `grace` seconds after that is killed: a stopped
    (SIGSTOP) process keeps SIGTERM pending, so only SIGKILL ends it."""
    conn.close()
    process.join(grace)
    if process.is_alive():
        process.terminate()
        process.join(grace)
    if process.is_alive():
        log.warning("search worker process %s did not end when terminated; killing it", process.pid)
        process.kill()
        process.join(KILL_WAIT)
        if process.is_alive():
            log.error("search worker process %s did not end when killed", process.pid)


class SearchWorkers:
    """`size` worker processes answering a stream of questions in order; a context manager. With
    `local`, that store (the caller's own, already open) takes its turn beside them, so N processes
    answer with N - 1 workers to start, and it answers alone until they have opened the database.
    Closing gives each worker `stop_grace` seconds to exit, then as long again once terminated,
    before it is killed (see `stop_worker`). Each worker calls `log_setup` first (see `serve`)."""

    def __init__(
        self,
        db_path: str,
        size: int,
        learned: bool = False,
        local: Store | None = None,
        stop_grace: float = STOP_GRACE,
        log_setup: Callable[[], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("search workers need at least one process")
        self.db_path = db_path
        self.size = size
        self.learned = learned
        self.local = local
        self.stop_grace = stop_grace
        self.log_setup = log_setup
        self._workers: list[tuple[BaseProcess, Connection]] = []
        self._starting: list[tuple[BaseProcess, Connection]] = []

    def __enter__(self) -> SearchWorkers:
        self._workers = [
            start_worker(self.db_path, self.learned, log_setup=self.log_setup) for _ in range(self.size)
        ]
        self._starting = list(self._workers)
        if self.local is None:
            try:
                for worker in self._starting:
                    if not worker[1].poll(START_TIMEOUT):
                        raise WorkerFailed(
                            f"a search worker did not open the database within {START_TIMEOUT:.0f} s;"
                            " try again, or answer in one process with --jobs 1."
                        )
                    self._check_ready(worker)
                self._starting = []
            except BaseException:
                self.close()
                raise
            log.info("%d search worker processes ready", self.size)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        workers, self._workers, self._starting = self._workers, [], []
        for process, conn in workers:
            stop_worker(process, conn, self.stop_grace)

    def _check_ready(self, worker: tuple[BaseProcess, Connection]) -> None:
        """Read a worker's first message: ready, or the error that stopped it opening the database."""
        status, error = self._receive(*worker)
        if status != "ready":
            raise error if isinstance(error, BaseException) else WorkerFailed(str(error))

    def _ready_now(self) -> list[tuple[BaseProcess, Connection]]:
        """The workers that have said they are ready since last asked (without waiting)."""
        ready = [worker for worker in self._starting if worker[1].poll(0)]
        for worker in ready:
            self._check_ready(worker)
            self._starting.remove(worker)
        return ready

    @staticmethod
    def _receive(process: BaseProcess, conn: Connection) -> tuple[str, object]:
        try:
            return conn.recv()  # type: ignore[no-any-return]
        except EOFError:
            raise WorkerFailed(
                f"a search worker process stopped (exit code {process.exitcode}); try again, or answer"
                " in one process with --jobs 1."
            ) from None

    def answers(self, asks: Iterable[Ask]) -> Iterator[SearchResponse | Exception]:
        """An answer (or the search's error) for each question, in their order. Questions are read
        from `asks` on a thread as they come, and each answer is given as soon as it and those
        before it are ready, so a slow source (a pipe, a person typing) still gets every answer."""
        if not self._workers:
            raise RuntimeError("the search workers are not started")
        incoming: queue.Queue[Ask | None] = queue.Queue()
        failure: list[BaseException] = []

        def read() -> None:
            try:
                for ask in asks:
                    incoming.put(ask)
            except BaseException as exc:  # reported by the consuming thread
                failure.append(exc)
            finally:
                incoming.put(None)

        threading.Thread(target=read, daemon=True, name="clippings-questions").start()
        # None is the local store's turn; workers join the turns once they are ready.
        takers: list[tuple[BaseProcess, Connection] | None] = [None] if self.local is not None else []
        takers += [worker for worker in self._workers if worker not in self._starting]
        waiting: collections.deque[tuple[tuple[BaseProcess, Connection] | None, Ask]] = collections.deque()
        handed = 0
        more = True
        while more or waiting:
            if self._starting:
                takers += self._ready_now()
            # Hand over what has come, without waiting for more while answers are due.
            while more and len(waiting) < IN_FLIGHT * len(takers):
                try:
                    ask = incoming.get(block=not waiting)
                except queue.Empty:
                    break
                if ask is None:
                    more = False
                    break
                worker = takers[handed % len(takers)]
                handed += 1
                if worker is not None:
                    worker[1].send(ask)
                waiting.append((worker, ask))
            if waiting:
                worker, ask = waiting.popleft()
                if worker is None:
                    assert self.local is not None
                    try:
                        yield self.local.search(ask.question, ask.libraries, ask.k, ask.offset)
                    except Exception as exc:
                        yield exc
                    continue
                status, value = self._receive(*worker)
                if status == "ok" and isinstance(value, SearchResponse):
                    yield value
                else:
                    yield value if isinstance(value, Exception) else WorkerFailed(str(value))
        if failure:
            raise failure[0]
