"""Running a discord.py client against the fake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import (
    BotFailure,
    WaitTimeout,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

# --------------------------------------------------------------------------
# Running a bot against the fake
# --------------------------------------------------------------------------


# Names discord.py gives to tasks running user code (events, app commands, views, modals).
_HANDLER_TASK_PREFIXES = (
    "discord.py: ",
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-dynamic-item",
    "discord-ui-modal",
)


class _ErrorLogHandler(logging.Handler):
    def __init__(self, runner: BotRunner) -> None:
        super().__init__(level=logging.ERROR)
        self.runner = runner

    def emit(self, record: logging.LogRecord) -> None:
        self.runner._on_error_record(record)


class BotRunner:
    """Runs a discord.py client against a :class:`FakeDiscord`.

    Use :func:`run_bot`. While running, ``errors`` collects every ERROR-level
    record from the ``discord`` loggers (unhandled exceptions in events,
    commands, views, modals) and a crash of the client task. Unless
    ``fail_on_errors=False`` these make pending/future ``fake.wait_*`` calls
    raise :class:`BotFailure` immediately and make the ``async with`` block
    raise on exit. Call :meth:`take_errors` in tests that expect errors.
    """

    def __init__(
        self,
        fake: FakeDiscord,
        client: Any,
        *,
        token: str | None = None,
        ready_timeout: float = 5.0,
        guild_ready_timeout: float | None = 0.05,
        fail_on_errors: bool = True,
        logger_names: Sequence[str] = ("discord",),
    ) -> None:
        self.fake = fake
        self.client = client
        self.token = token or fake.token
        self.ready_timeout = ready_timeout
        self.guild_ready_timeout = guild_ready_timeout
        self.fail_on_errors = fail_on_errors
        self.logger_names = logger_names
        self.errors: list[str] = []
        self.task: asyncio.Task | None = None
        self._handler = _ErrorLogHandler(self)
        self._patch: contextlib.ExitStack | None = None

    def _on_error_record(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self._record(f"[{record.name}] {text}")

    def _record(self, text: str) -> None:
        self.errors.append(text)
        if self.fail_on_errors:
            self.fake.report_failure(text)

    def take_errors(self) -> list[str]:
        """Return and forget the errors captured so far."""
        out, self.errors = self.errors, []
        self.fake.clear_failures()
        return out

    async def wait_for_error(self, timeout: float | None = None) -> str:
        """Wait for the bot to log an error (run with ``fail_on_errors=False``)."""
        await self.fake.wait_for(lambda: self.errors, timeout, "a bot error")
        return self.errors[-1]

    def _on_task_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            import traceback

            self._record("client task crashed:\n" + "".join(traceback.format_exception(exc)))
        else:
            self.fake._notify()

    async def start(self) -> None:
        self._patch = contextlib.ExitStack()
        self._patch.enter_context(self.fake.patch_discord())
        for name in self.logger_names:
            logging.getLogger(name).addHandler(self._handler)
        identifies_before = self.fake.identify_count
        self.task = asyncio.create_task(self.client.start(self.token), name="fake-discord-bot")
        self.task.add_done_callback(self._on_task_done)
        task = self.task
        try:
            if self.guild_ready_timeout is not None:
                # ConnectionState exists from construction; login happens in start().
                self.client._connection.guild_ready_timeout = self.guild_ready_timeout
            try:
                await self.fake.wait_for(
                    lambda: self.fake.identify_count > identifies_before or task.done(),
                    self.ready_timeout,
                    "the bot to IDENTIFY",
                )
            except BotFailure:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    self.take_errors()
                    raise task.exception() from None  # e.g. discord.LoginFailure
                raise
            if task.done():
                task.result()
                raise BotFailure("client.start() returned before the bot was ready")
            ready = asyncio.ensure_future(self.client.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, task}, timeout=self.ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if ready not in done:
                ready.cancel()
                if task.done():
                    task.result()
                raise WaitTimeout("bot did not become ready")
        except BaseException:
            await self.stop(raise_errors=False)
            raise

    @staticmethod
    def _handler_tasks() -> list[asyncio.Task]:
        current = asyncio.current_task()
        return [
            t
            for t in asyncio.all_tasks()
            if t is not current and not t.done() and t.get_name().startswith(_HANDLER_TASK_PREFIXES)
        ]

    async def wait_idle(self, timeout: float = 1.0) -> bool:
        """Wait until discord.py has no event/command/view/modal handler tasks
        running (e.g. the bot finished reacting to the last event). Returns
        False if some were still running after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await asyncio.sleep(0)  # let freshly dispatched events create their tasks
            tasks = self._handler_tasks()
            if not tasks:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(tasks, timeout=remaining)

    async def stop(self, *, raise_errors: bool = True, drain: float = 1.0) -> None:
        """Let running handlers finish (up to ``drain`` s), close the client,
        unpatch discord.py; raise :class:`BotFailure` if errors were seen."""
        try:
            if drain and self.task is not None and not self.task.done():
                await self.wait_idle(drain)
            if not self.client.is_closed():
                await asyncio.wait_for(self.client.close(), 5)
            if self.task is not None and not self.task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(self.task), 2)
                except TimeoutError:
                    self.task.cancel()
                    with contextlib.suppress(BaseException):
                        await self.task
        finally:
            for name in self.logger_names:
                logging.getLogger(name).removeHandler(self._handler)
            if self._patch is not None:
                self._patch.close()
                self._patch = None
        if raise_errors and self.errors and self.fail_on_errors:
            raise BotFailure("bot reported errors:\n" + "\n".join(self.errors))

    async def __aenter__(self) -> BotRunner:
        await self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.stop(raise_errors=exc_type is None)


@contextlib.asynccontextmanager
async def run_bot(fake: FakeDiscord, client: Any, **kwargs: Any) -> AsyncIterator[BotRunner]:
    """``async with run_bot(fake, client) as runner:`` -- patch discord.py,
    start the client, wait for on_ready; close everything on exit.
    Keyword arguments go to :class:`BotRunner`."""
    runner = BotRunner(fake, client, **kwargs)
    async with runner:
        yield runner
