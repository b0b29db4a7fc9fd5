"""Hostile content (issue 6, point 2): each case is a clear refusal or a clean article.

Never a crash, a hang or unbounded memory. Cases that could hang run in a subprocess with a timeout.
"""

from __future__ import annotations

import codecs
import concurrent.futures
import contextlib
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from index import Article, ReadFailure, Store
from index.ingest.passages import PASSAGE_CAP, make_passages
from index.ingest.readers import (
    MAX_DOCUMENT_BYTES,
    MAX_FILE_BYTES,
    articles_from_bytes,
    max_bytes_for,
    read_file,
    read_path,
)

STORY = "The council voted on Tuesday to build a new bridge over the river. " * 3
CLI = [sys.executable, "-m", "index"]


def one(results) -> Article | ReadFailure:
    results = list(results)
    assert len(results) == 1, results
    return results[0]


def refusal(result: Article | ReadFailure) -> str:
    assert isinstance(result, ReadFailure), f"expected a refusal, got an article: {result!r:.200}"
    assert "\n" not in result.reason and result.reason.endswith("."), result.reason
    return result.reason


def article(result: Article | ReadFailure) -> Article:
    assert isinstance(result, Article), f"expected an article, got {result!r}"
    return result


def stored_cleanly(art: Article) -> list[tuple[int, int]]:
    """Store the article and check every passage is an exact slice within the cap."""
    original = art.text
    with Store(":memory:") as store:
        stored = store.add(art, "global").article
        text = store.article_text("global", stored.id)
        passages = store.passages("global", stored.id)
    assert text == original
    assert passages, "a stored article has at least one passage"
    # Expected from the original text and the splitter, not from the offsets the store kept.
    expected = [(s.start, s.end, original[s.start : s.end]) for s in make_passages(original)]
    assert [(p.start, p.end, p.text) for p in passages] == expected
    assert all(0 < len(p.text) <= PASSAGE_CAP for p in passages)
    return [(p.start, p.end) for p in passages]


def cli(db: Path, *args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "--db", str(db), *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def one_sentence_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert "Traceback" not in stderr, stderr
    assert errors, stderr
    return errors[0]


# -- deep nesting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<html><body>" + "<div>" * 100_000 + STORY + "</div>" * 100_000 + "</body></html>",
        "<html><body>" + "<div>" * 100_000 + STORY,  # never closed
        "<html><body><p>" + "<b><i>" * 50_000 + STORY + "</i></b>" * 50_000 + "</p></body></html>",
    ],
    ids=["div-closed", "div-unclosed", "inline"],
)
def test_html_nested_100k_deep_is_refused_quickly(html):
    started = time.monotonic()
    reason = refusal(one(articles_from_bytes(html.encode(), "deep.html", "html")))
    assert (
        reason
        == "deep.html has no article text that could be extracted from its HTML; save the article's text as a .txt file and add that instead."
    )
    assert time.monotonic() - started < 10


def test_article_followed_by_100k_deep_nesting_is_read_cleanly():
    html = (
        "<html><head><title>Bridge vote</title></head><body><article><p>"
        + STORY
        + "</p></article>"
        + "<div>" * 100_000
        + "x"
        + "</div>" * 100_000
        + "</body></html>"
    )
    art = article(one(articles_from_bytes(html.encode(), "deep.html", "html")))
    assert art.title == "Bridge vote"
    assert art.text == STORY.strip()
    stored_cleanly(art)


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_json_nested_100k_deep_is_refused(kind):
    reason = refusal(one(articles_from_bytes(b"[" * 100_000 + b"]" * 100_000, "deep." + kind, kind)))
    assert reason.endswith(
        "is JSON nested too deeply to be an article record; give each record as one object with 'title' and 'text'."
    )


def test_json_with_a_5000_digit_number_is_refused():
    data = b'{"title": "x", "text": "' + STORY.encode() + b'", "n": ' + b"9" * 5000 + b"}"
    assert "is not usable JSON" in refusal(one(articles_from_bytes(data, "n.json", "json")))


def test_json_fields_that_are_not_text_are_ignored():
    record = {"title": ["not", "a", "title"], "text": STORY, "url": {"href": "x"}, "date": True}
    art = article(one(articles_from_bytes(json.dumps(record).encode(), "r.json", "json")))
    assert (art.url, art.published, art.title) == (None, None, "R")


# -- size -----------------------------------------------------------------------------------------------


def test_50_mb_html_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.html"
    with path.open("wb") as handle:
        handle.write(b"<html><body><article><p>" + STORY.encode() * 100)
        handle.truncate(50 * 1024 * 1024)  # sparse: nothing this large is ever in memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reason = refusal(one(read_path(str(path))))
    assert reason == f"{path} is larger than 5 MB; split it or give a smaller file."
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20 * 1024  # KB: under 20 MB


def test_50_mb_html_in_memory_is_refused_without_parsing():
    data = b"<html><body><article>" + b"<p>" + STORY.encode() * (50 * 1024 * 1024 // len(STORY)) + b"</p>"
    reason = refusal(one(articles_from_bytes(data, "huge.html", "html")))
    assert reason == "huge.html is larger than 5 MB; split it or give a smaller file."


def test_50_mb_html_through_the_cli_is_one_sentence(tmp_path):
    path = tmp_path / "huge.html"
    with path.open("wb") as handle:
        handle.write(b"<html><body>")
        handle.truncate(50 * 1024 * 1024)
    result = cli(tmp_path / "c.db", "add", str(path), timeout=60)
    assert result.returncode == 1
    assert (
        one_sentence_error(result.stderr)
        == f"Error: {path} is larger than 5 MB; split it or give a smaller file."
    )


def test_size_limits_per_kind_are_exposed_for_front_ends():
    assert max_bytes_for("html") == max_bytes_for("text") == MAX_DOCUMENT_BYTES == 5 * 2**20
    assert max_bytes_for("json") == max_bytes_for("jsonl") == MAX_FILE_BYTES == 50 * 2**20


def test_json_feed_may_be_larger_than_one_document(tmp_path):
    path = tmp_path / "feed.jsonl"
    record = json.dumps({"title": "Bridge", "text": STORY})
    lines = [record.replace("Bridge", f"Bridge {i}").replace("river", f"river {i}") for i in range(40_000)]
    path.write_text("\n".join(lines))
    assert MAX_DOCUMENT_BYTES < path.stat().st_size < MAX_FILE_BYTES
    results = list(read_path(str(path)))
    assert len(results) == 40_000 and all(isinstance(r, Article) for r in results)


def test_one_record_too_long_to_be_an_article_is_refused_alone():
    lines = [
        json.dumps({"title": "Long", "text": "word " * (MAX_DOCUMENT_BYTES // 5 + 1)}),
        json.dumps({"title": "Short", "text": STORY}),
    ]
    long_one, short = articles_from_bytes("\n".join(lines).encode(), "feed.jsonl", "jsonl")
    assert refusal(long_one).startswith("feed.jsonl line 1 is longer than 5,242,880 characters")
    assert article(short).title == "Short"


# -- binary, encodings, NUL -------------------------------------------------------------------------------

_rng = random.Random(6)
BINARIES = {
    "random": bytes(_rng.randrange(256) for _ in range(4096)),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
    "elf": b"\x7fELF\x02\x01\x01\x00" + bytes(200),
    "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200),
    "gzip": b"\x1f\x8b\x08\x00" + bytes(200),
    "pdf-without-nul": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 5 >>\nstream\n\xff\xd8\xff\xe0\n",
    "utf16-without-bom": "The council voted on Tuesday.".encode("utf-16-be"),
}


@pytest.mark.parametrize("name", sorted(BINARIES))
def test_binary_file_renamed_txt_is_refused(tmp_path, name):
    path = tmp_path / f"{name}.txt"
    path.write_bytes(BINARIES[name])
    reason = refusal(one(read_path(str(path))))
    assert "looks like a binary file" in reason or "is not valid UTF-8 text" in reason


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_binary_file_renamed_jsonl_is_refused_once_not_line_by_line(tmp_path, suffix):
    data = BINARIES["random"] * 4  # about 60 "lines" between its newline bytes
    path = tmp_path / f"random{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    assert refusal(one(read_path(str(path)))) == (
        f"{path} looks like a binary file, not text; give a .txt, .md, .html or .json file."
    )


@pytest.mark.parametrize(
    "data",
    [
        "Café au lait on Tuesday, said the mayor of the town.".encode("latin-1"),
        STORY.encode() + b"\xe2\x82",  # cut in the middle of a character
        b"The council " + b"\xc0\xaf" + b" voted on the bridge plan.",  # overlong '/'
        b"The council " + b"\xed\xa0\x80" + b" voted on the bridge plan.",  # a UTF-8 encoded surrogate
        b"\xff\xfe\x00\x00" + b"\xff\xff\xff\xff",  # UTF-32 BOM, then an impossible code point
        codecs.BOM_UTF16_LE + "The council voted.".encode("utf-16-le") + b"\x00\xd8",  # lone surrogate
        codecs.BOM_UTF8 + b"The council \xff voted.",
    ],
    ids=["latin-1", "truncated", "overlong", "surrogate", "bad-utf32", "bad-utf16", "bad-after-utf8-bom"],
)
def test_invalid_text_encodings_are_refused_in_one_sentence(data):
    reason = refusal(one(articles_from_bytes(data, "bad.txt", "text")))
    assert reason.startswith("bad.txt")
    assert ("not valid" in reason and "save it as UTF-8" in reason) or "binary" in reason


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_read(encoding):
    text = "Bridge vote\n\n" + STORY + "Привет, שלום, مرحبا."
    if encoding == "utf-16-le-bom":
        data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    art = article(one(articles_from_bytes(data, "bom.txt", "text")))
    assert (art.title, art.text) == ("Bridge vote", (STORY + "Привет, שלום, مرحبا.").strip())
    assert "\ufeff" not in art.text


def test_nul_bytes_near_the_start_are_a_binary_refusal():
    data = b"The council\x00 voted on Tuesday\x00 to build a bridge."
    assert "looks like a binary file" in refusal(one(articles_from_bytes(data, "nul.txt", "text")))


def test_nul_bytes_later_on_are_dropped_from_a_clean_article():
    data = STORY.encode() * 50 + b"\x00\x00 The bridge opens in May.\x00"
    art = article(one(articles_from_bytes(data, "nul.txt", "text")))
    assert "\x00" not in art.text and art.text.endswith("The bridge opens in May.")
    stored_cleanly(art)


# -- invisible and right-to-left characters --------------------------------------------------------------


def test_right_to_left_and_zero_width_characters_leave_a_clean_article():
    raw = (
        "\u202eThe coun\u200bcil\u200d voted on \u2067Tuesday\u2069 to build a bridge.\u200f "
        "\u05d4\u05de\u05d5\u05e2\u05e6\u05d4 \u05d4\u05e6\u05d1\u05d9\u05e2\u05d4. "
        "\u0627\u0644\u0645\u062c\u0644\u0633 \u0635\u0648\u062a. \u2066Done\u2069\ufeff"
    )
    art = article(one(articles_from_bytes(raw.encode(), "rtl.txt", "text")))
    for invisible in "\u202e\u200b\u200d\u2067\u2069\u200f\u2066\ufeff":
        assert invisible not in art.text
    assert art.text.startswith("The council voted on Tuesday to build a bridge.")
    assert (
        "\u05d4\u05de\u05d5\u05e2\u05e6\u05d4" in art.text
        and "\u0627\u0644\u0645\u062c\u0644\u0633" in art.text
    )
    stored_cleanly(art)
    with Store(":memory:") as store:
        store.add(art, "global")
        assert store.search("council", ["global"]).hits, "a word split by a zero-width space is found whole"


def test_only_invisible_characters_is_refused():
    data = ("\u200b\u200c\u200d\u2060\ufeff\u202e" * 2000).encode()
    assert "has no article text left after cleaning" in refusal(
        one(articles_from_bytes(data, "z.txt", "text"))
    )


# -- one enormous sentence ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["word " * 20_000, "x" * 100_000, ("a" * 999 + " ") * 100, "一二三四五六七八九十" * 10_000],
    ids=["words", "no-spaces", "long-words", "cjk"],
)
def test_one_100k_character_sentence_is_cut_into_capped_passages(text):
    started = time.monotonic()
    art = article(one(articles_from_bytes(text.encode(), "long.txt", "text")))
    spans = stored_cleanly(art)
    assert len(spans) >= len(art.text) // PASSAGE_CAP
    assert time.monotonic() - started < 15


# -- only boilerplate ---------------------------------------------------------------------------------------

BOILERPLATE_TEXT = (
    "Skip to content\nMenu\nSearch\nShare this article\nFacebook | Twitter | Email\nLeave a comment\n"
    "12 comments\nSubscribe now!\nAdvertisement\nRead more:\nAccept all cookies\nCopyright 2024 News Corp\n"
)
BOILERPLATE_HTML = (
    "<html><head><title>News</title></head><body><nav><a href='/'>Home</a> | <a href='/w'>World</a></nav>"
    "<div class='cookie'>Accept all cookies</div><div class='share'>Share</div>"
    "<footer>Copyright 2024 News Corp. All rights reserved.</footer></body></html>"
)


@pytest.mark.parametrize(
    ("name", "data"), [("chrome.txt", BOILERPLATE_TEXT), ("chrome.html", BOILERPLATE_HTML)]
)
def test_article_of_only_boilerplate_is_refused(name, data):
    reason = refusal(
        one(articles_from_bytes(data.encode(), name, name.rsplit(".", 1)[1].replace("txt", "text")))
    )
    assert reason.startswith(name) and "article text" in reason


# -- files that are not files ---------------------------------------------------------------------------------


def test_fifo_named_txt_is_refused_without_blocking(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.txt")
    (folder / "story.txt").write_text("Bridge vote\n\n" + STORY)
    result = cli(tmp_path / "c.db", "add", str(folder), timeout=30)
    assert result.returncode == 1
    assert (
        one_sentence_error(result.stderr)
        == f"Error: {folder / 'pipe.txt'} is not a regular file; give a .txt, .md, .html or .json file."
    )
    assert "1 added" in result.stderr


def test_read_file_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    # read_file opens first and checks the opened file; an open that waited for a writer would
    # block here until the timeout.
    os.mkfifo(tmp_path / "pipe.txt")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        read = pool.submit(lambda: list(read_file(tmp_path / "pipe.txt")))
        assert read.result(timeout=10) == [
            ReadFailure(
                str(tmp_path / "pipe.txt"),
                f"{tmp_path / 'pipe.txt'} is not a regular file; give a .txt, .md, .html or .json file.",
            )
        ]


def test_symlink_to_dev_zero_is_refused_without_reading_forever(tmp_path):
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    result = cli(tmp_path / "c.db", "add", str(link), timeout=30)
    assert result.returncode == 1
    assert "is not a regular file" in one_sentence_error(result.stderr)


# -- many files -----------------------------------------------------------------------------------------------


def test_10k_tiny_files_in_one_folder_through_the_cli(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"n{i:05d}.txt").write_text(
            f"Note {i}\n\nThe council met on day {i} and voted on item {i * 7}."
        )
    (folder / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    db = tmp_path / "c.db"
    started = time.monotonic()
    result = cli(db, "add", str(folder), timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 1  # one file failed; the others are added
    assert result.stderr.splitlines()[-1] == "10000 added, 1 failed in library global."
    assert one_sentence_error(result.stderr).endswith(
        "looks like a binary file, not text; give a .txt, .md, .html or .json file."
    )
    assert len(result.stdout.splitlines()) == 10_000
    assert elapsed < 60
    stats = json.loads(cli(db, "stats", "--json").stdout)
    assert stats["libraries"]["global"]["articles"] == 10_000
    answer = json.loads(cli(db, "ask", "--json", "item 69993").stdout)
    assert answer["results"][0]["title"] == "Note 9999"


# -- stdin without end (index/cli.py) ---------------------------------------------------------------------------


def test_add_from_endless_stdin_is_refused_with_bounded_memory(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", PEAK_MEMORY_WRAPPER, "--db", str(tmp_path / "c.db"), "add", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    chunk = b"the council voted again on the bridge " * 27_000  # about 1 MB

    def feed() -> None:
        try:
            for _ in range(300):  # 300 MB, far past any cap: stands for a stream without end
                process.stdin.write(chunk)
            process.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        process.wait(timeout=60)  # not communicate(): that would close stdin under the feeder
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("clippings add - did not finish")
    feeder.join(5)
    stderr = process.stderr.read().decode()
    peak_kb = int(stderr.rsplit("VmHWM:", 1)[1].split()[0])
    assert process.returncode == 1
    assert "larger than" in one_sentence_error(stderr)
    assert peak_kb < 200 * 1024, f"peak {peak_kb // 1024} MB for stdin beyond the cap"


# Runs the CLI and reports its own peak resident memory (VmHWM belongs to this program alone, unlike
# ru_maxrss, which on Linux also counts the parent's memory at fork time).
PEAK_MEMORY_WRAPPER = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        sys.stderr.write(next(line for line in status if line.startswith("VmHWM")))
atexit.register(peak)
sys.argv[0] = "clippings"
runpy.run_module("index", run_name="__main__")
"""


# -- secrets in what is printed (index/db/postgres.py) --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            "postgresql://reader:Tr0ub4dor@[::1/news",
            'end of string reached when looking for matching "]" in IPv6 host address in URI:'
            ' "postgresql://reader:***@[::1/news"',
        ),
        ("postgresql://reader:Tr0ub%zz4dor@127.0.0.1:1/news", 'invalid percent-encoded token: "***"'),
        (
            "postgresql://reader@[::1/news?password=Tr0ub%2F4dor",
            'end of string reached when looking for matching "]" in IPv6 host address in URI:'
            ' "postgresql://reader@[::1/news?password=***"',
        ),
    ],
    ids=["unclosed-bracket", "bad-percent-escape", "password-parameter"],
)
def test_a_malformed_postgresql_url_is_refused_without_printing_its_password(url, reason):
    result = cli(url, "stats", timeout=30)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: Could not connect to the PostgreSQL URL ({reason}); check that the server runs and that"
        " the URL, user and database are right.\n"
    )
    assert "Tr0ub" not in result.stderr + result.stdout


def test_a_link_of_another_scheme_is_refused_without_printing_its_password(tmp_path):
    result = cli(tmp_path / "c.db", "add", "ftp://editor:Tr0ub4dor@example.com/story.txt", timeout=30)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: ftp://example.com/story.txt is a ftp: link, which cannot be added; give an http or https"
        " link.\n1 failed in library global.\n"
    )


# -- file names chosen by others (index/cli.py) ---------------------------------------------------------------


def test_a_file_name_with_terminal_escapes_is_printed_without_them(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "title\x1b]0;owned\x07\x1b[2J.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = cli(tmp_path / "c.db", "add", str(folder), timeout=30)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {folder}/title\ufffd]0;owned\ufffd\ufffd[2J.txt looks like a binary file, not text; give a"
        " .txt, .md, .html or .json file.\n1 failed in library global.\n"
    )


def test_a_file_name_with_a_line_break_is_printed_on_one_line(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fake\nError: all good.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = cli(tmp_path / "c.db", "add", str(folder), timeout=30)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {folder}/fake\ufffdError: all good.txt looks like a binary file, not text; give a"
        " .txt, .md, .html or .json file.\n1 failed in library global.\n"
    )


# -- deep folders (index/ingest/readers.py) -------------------------------------------------------------------


@contextlib.contextmanager
def nested(top: Path, depth: int, name: str, text: str) -> Iterator[None]:
    """A file `depth` folders called d below `top` while the block runs, made (and removed again:
    pytest's recursive clean-up cannot) through folder descriptors, so that the path may be longer
    than the system takes."""
    fds = [os.open(top, os.O_RDONLY)]
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fds[-1])
            fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
        handle = os.open(name, os.O_WRONLY | os.O_CREAT, dir_fd=fds[-1])
        os.write(handle, text.encode())
        os.close(handle)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fds[-1])
        while len(fds) > 1:
            os.close(fds.pop())
            os.rmdir("d", dir_fd=fds[-1])
        os.close(fds[0])


def test_a_folder_tree_1500_levels_deep_is_added(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    with nested(folder, 1500, "story.txt", "Bridge vote\n\n" + STORY):
        result = cli(tmp_path / "c.db", "add", str(folder), timeout=60)
    assert (result.returncode, result.stderr) == (0, "1 added in library global.\n")


def test_a_folder_too_deep_to_list_is_refused_and_the_rest_is_added(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "top.txt").write_text("Bridge vote\n\n" + STORY)
    with nested(folder, 2100, "deep.txt", "Deep vote\n\n" + STORY):
        result = cli(tmp_path / "c.db", "add", str(folder), timeout=60)
    assert result.returncode == 1
    # Linux takes paths of at most 4095 bytes (PATH_MAX, 4096, with the closing NUL).
    depth = next(n for n in range(1, 2100) if len(f"{folder}" + "/d" * n) > 4095)
    assert result.stderr == (
        f"Error: {folder}{'/d' * depth} cannot be listed (File name too"
        " long); fix that folder and add it again.\n1 added, 1 failed in library global.\n"
    )


# -- links in folders (index/ingest/readers.py) ---------------------------------------------------------------


def test_a_link_in_a_folder_to_a_file_outside_it_is_refused_and_not_read(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "story.txt").write_text("Bridge vote\n\n" + STORY)
    (tmp_path / ".env").write_text("DISCORD_TOKEN=MTIz.secret-token-of-the-operator\n")
    (folder / "notes.txt").symlink_to(tmp_path / ".env")
    db = tmp_path / "c.db"
    result = cli(db, "add", str(folder), timeout=30)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {folder}/notes.txt links to a file outside {folder}, so it was not read; add that file by"
        " its own name if it is an article.\n1 added, 1 failed in library global.\n"
    )
    assert cli(db, "list", "--tsv").stdout.count("\n") == 1


def test_a_link_in_a_folder_to_a_file_inside_it_is_read(tmp_path):
    folder = tmp_path / "in"
    (folder / ".drafts").mkdir(parents=True)  # hidden: read only through the link
    (folder / ".drafts" / "story.txt").write_text("Bridge vote\n\n" + STORY)
    (folder / "latest.txt").symlink_to(Path(".drafts") / "story.txt")
    result = cli(tmp_path / "c.db", "add", str(folder), timeout=30)
    assert (result.returncode, result.stderr) == (0, "1 added in library global.\n")
