"""The bot's logging: one format, the configured level, and no line that holds the token; set up in
the bot's process and again in each search worker process it spawns (see `worker_log_setup`)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable


class RedactToken(logging.Filter):
    """Belt and braces: no log line may ever contain the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "[token]")
            record.args = None
        # The traceback too: an exception's message (or a chained one's) may quote the token. The
        # formatter prints exc_text when it is set, so it is formatted and masked here, once.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "[token]")
        if record.stack_info and self.token in record.stack_info:
            record.stack_info = record.stack_info.replace(self.token, "[token]")
        return True


def configure_logging(level: str, token: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def worker_log_setup(level: str, token: str) -> Callable[[], None]:
    """What a spawned search worker calls first to log as the bot does (picklable). The worker is
    the bot's own child process, with the bot's environment, so handing it the token for the filter
    shows it to no one new."""
    return functools.partial(configure_logging, level, token)
