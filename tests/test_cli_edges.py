"""The CLI at the edges: odd names, full devices, field rules (issue 12, cases 6-9), article
identity, dates and the rough edges of the commands (issue 15, points 1-4)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from index import Article, BadInput, Store
from index import cli as cli_module
from index import store as store_module
from index.cli import cli

REPO = Path(__file__).resolve().parent.parent
STORY = "The harbour council voted on Tuesday to rebuild the sea wall before the winter storms.\n"


def run(db_path, *args: str, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(
        cli, ["--db", str(db_path), *args], input=input, env=env, catch_exceptions=False
    )


def run_process(*args: str | bytes, stdout=subprocess.PIPE, env: dict | None = None, **kwargs):
    """The real `clippings` process (for what only a real process shows: bytes in names, devices)."""
    return subprocess.run(
        [sys.executable, "-m", "index", *args],
        cwd=REPO,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=120,
        **kwargs,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def titles(db_path, library: str = "global") -> list[str]:
    with Store(db_path, ranker=None) as store:
        return [a.title for a in store.list_articles(library, limit=100)]


# -- issue 12 case 6: names that are not UTF-8 ---------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_shown_with_replacement_and_the_folder_is_added(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    for n in range(5):
        write(folder / f"story{n}.txt", f"Story {n}\n\nThe harbour council met for meeting number {n}.\n")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w") as f:
        f.write("The cafe on the harbour reopened after the storm damage was repaired.\n")
    done = run_process("--db", str(tmp_path / "c.db"), "add", str(folder))
    assert (done.returncode, done.stderr.decode()) == (0, "6 added in library global.\n")
    assert "Caf\ufffd" in done.stdout.decode()
    assert len(titles(tmp_path / "c.db")) == 6


def test_a_library_name_that_is_not_utf8_is_refused_in_one_sentence(tmp_path):
    done = run_process("--db", str(tmp_path / "c.db"), "list", "--library", b"bad\xff")
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert "is not a library name; use 1 to 100 printable characters." in stderr
    assert "Traceback" not in stderr


def test_a_question_that_is_not_utf8_is_refused_in_one_sentence(with_story):
    # A Latin-1 terminal; strict standard output, as Python sets it under en_US.UTF-8.
    done = run_process(
        "--db",
        str(with_story),
        "ask",
        "--json",
        b"caf\xe9 sea wall",
        env={"PYTHONIOENCODING": "utf-8:strict"},
    )
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        1,
        b"",
        "Error: That question is not UTF-8 text; set the terminal to UTF-8 and ask again.\n",
    )


# -- issue 12 case 7: standard output on a full device --------------------------------------------------


def test_list_to_a_full_device_says_so_in_one_sentence(tmp_path):
    db = tmp_path / "c.db"
    assert run(db, "add", str(write(tmp_path / "s.txt", STORY))).exit_code == 0
    with open("/dev/full", "w") as full:
        done = run_process("--db", str(db), "list", stdout=full)
    assert (done.returncode, done.stderr.decode()) == (
        1,
        "Error: the output could not be written: the disk is full; free space and try again.\n",
    )


# -- issue 12 case 8: a full disk -----------------------------------------------------------------------


class _FullStore(Store):
    """A real store whose file may not grow (SQLite's own limit: it fails with SQLITE_FULL)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        pages = self.db.conn.execute("PRAGMA page_count").fetchone()[0]
        self.db.conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_named_as_such_and_never_gets_restore_advice(tmp_path, monkeypatch):
    db = tmp_path / "c.db"
    assert run(db, "add", str(write(tmp_path / "s.txt", STORY))).exit_code == 0
    monkeypatch.setattr(cli_module, "Store", _FullStore)
    big = write(tmp_path / "big.txt", " ".join(f"Word{n} of the long story." for n in range(4000)))
    expected = (
        f"Error: {db} could not be written: the disk is full; free space and try again."
        " Nothing of this change was stored.\n"
    )
    for _ in range(2):  # the second failure says the same, not "cannot rollback"
        result = run(db, "add", str(big))
        assert (result.exit_code, result.stderr) == (1, expected)
    assert titles(db) == ["S"]


FULL_CACHE = """
import resource, signal, sys
from index import Store
from index import store as store_module
store_module.CACHE_MIN_PASSAGES = 1
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # no file may grow past 40 kB
with Store(sys.argv[1], ranker=None) as store:
    print(store.list_articles("global", limit=1)[0].title)
"""


def test_a_cache_that_cannot_be_written_leaves_no_temporary_file(tmp_path):
    db = tmp_path / "c.db"
    with Store(db, ranker=None) as store:
        for n in range(40):
            store.add(Article(f"T{n}", " ".join(f"w{n}x{k} harbour story." for k in range(200))), "global")
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", FULL_CACHE, str(db)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert (done.returncode, done.stdout) == (0, "T39\n")
        assert "could not save the index cache" in done.stderr
    folder = tmp_path / "c.db.index"
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


# -- issue 12 case 9: field rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://example.com/a", "http://"]
)
def test_add_with_a_url_that_is_not_http_is_refused(tmp_path, url):
    db = tmp_path / "c.db"
    result = run(db, "add", "--url", url, str(write(tmp_path / "s.txt", STORY)))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {url!r} is not an http or https link; give the article's web address.\n"
    assert titles(db) == []


def test_add_with_a_url_of_two_lines_is_refused(tmp_path):
    db = tmp_path / "c.db"
    result = run(db, "add", "--url", "https://x.test/a\nb", str(write(tmp_path / "s.txt", STORY)))
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: 'https://x.test/a\ufffdb' holds spaces or control characters; give the link as one line.\n",
    )
    assert titles(db) == []


def test_a_json_record_with_a_javascript_url_is_refused_and_the_others_added(tmp_path):
    db = tmp_path / "c.db"
    records = [
        {"title": "Bad", "text": STORY, "url": "javascript:alert(1)"},
        {"title": "Good", "text": STORY.replace("Tuesday", "Monday"), "url": "https://x.test/good"},
    ]
    feed = write(tmp_path / "feed.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    result = run(db, "add", str(feed))
    assert result.exit_code == 1
    assert "'javascript:alert(1)' is not an http or https link" in result.stderr
    assert titles(db) == ["Good"]


@pytest.mark.parametrize("library", ["", "x" * 101, "two\nlines", "tab\there"])
def test_a_library_name_outside_the_rules_is_refused(tmp_path, library):
    result = run(tmp_path / "c.db", "add", "-l", library, str(write(tmp_path / "s.txt", STORY)))
    assert result.exit_code == 2
    assert "is not a library name; use 1 to 100 printable characters." in result.output


def test_html_file_without_article_text_gets_one_sentence_and_no_library_warning(tmp_path):
    page = write(tmp_path / "empty.html", "<html><body></body></html>")
    done = run_process("--db", str(tmp_path / "c.db"), "add", str(page))
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"Error: {page} has no article text that could be extracted from its HTML; save the article's text as a .txt file and add that instead.\n"
        "1 failed in library global.\n",
    )


def test_an_html_file_of_blank_lines_gets_one_sentence_and_no_parser_errors(tmp_path):
    # trafilatura logs "ERROR trafilatura.utils: lxml parsing failed: Document is empty" for it.
    page = write(tmp_path / "blank.html", "   \n")
    done = run_process("--db", str(tmp_path / "c.db"), "add", str(page))
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"Error: {page} has no article text that could be extracted from its HTML; save the article's text as a .txt file and add that instead.\n"
        "1 failed in library global.\n",
    )


def test_add_to_a_library_name_with_a_space_at_its_end_is_refused(tmp_path):
    # "global " would be a second library beside global that no server and no plain `ask` reads.
    result = run(tmp_path / "c.db", "add", "-l", "global ", str(write(tmp_path / "s.txt", STORY)))
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '-l' / '--library': "
        "'global ' has spaces at its start or end; give the library name without them."
    )


def test_store_refuses_to_add_to_a_library_name_of_only_spaces(tmp_path):
    with Store(tmp_path / "c.db", ranker=None) as store, pytest.raises(BadInput) as refused:
        list(store.add_many([Article(title="Sea wall", text=STORY)], "  "))
    assert str(refused.value) == "'  ' has spaces at its start or end; give the library name without them."


def test_control_characters_in_a_title_are_replaced_when_shown(tmp_path):
    db = tmp_path / "c.db"
    with Store(db, ranker=None) as store:  # stored by an earlier version, as given
        store.db.store_articles(
            [
                __import__("index.db.base", fromlist=["PreparedArticle"]).PreparedArticle(
                    Article("Two\nlines\x07", STORY), [], [], "h1"
                )
            ],
            "global",
        )
    listed = run(db, "list").stdout
    assert listed == "1\tTwo\ufffdlines\ufffd\t0 passages\t\t\n"


def test_a_title_given_with_newlines_is_stored_on_one_line(tmp_path):
    db = tmp_path / "c.db"
    assert run(db, "add", "--title", "Sea\nwall\rvote", str(write(tmp_path / "s.txt", STORY))).exit_code == 0
    assert titles(db) == ["Sea wall vote"]


# -- issue 15 point 1: an article's identity ------------------------------------------------------------


def test_an_edited_file_re_added_updates_the_article_in_place(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "budget.txt", "Budget vote\n\nThe council approved $112 million for the port.\n")
    assert run(db, "add", str(story)).stdout == "1\tBudget vote\t1 passage\tadded\n"
    write(story, "Budget vote\n\nThe council approved $121 million for the port.\n")
    assert run(db, "add", str(story)).stdout == "1\tBudget vote\t1 passage\tupdated\n"
    answer = json.loads(run(db, "ask", "--json", "how much did the council approve").stdout)
    assert [r["passage"] for r in answer["results"]] == ["The council approved $121 million for the port."]


def test_as_new_keeps_both_versions(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "budget.txt", "Budget vote\n\nThe council approved $112 million for the port.\n")
    run(db, "add", str(story))
    write(story, "Budget vote\n\nThe council approved $121 million for the port.\n")
    assert run(db, "add", "--as-new", str(story)).stdout == "2\tBudget vote\t1 passage\tadded\n"
    assert titles(db) == ["Budget vote", "Budget vote"]


def test_an_exact_duplicate_from_another_file_under_another_title_stays_deduplicated(tmp_path):
    db = tmp_path / "c.db"
    run(db, "add", "--title", "First", "--date", "2024-01-01", str(write(tmp_path / "s.txt", STORY)))
    copy = run(
        db, "add", "--title", "Second", "--date", "2024-05-02", str(write(tmp_path / "copy.txt", STORY))
    )
    assert copy.stdout == "1\tFirst\t1 passage\tunchanged\n"
    assert run(db, "list", "--tsv").stdout.split("\t")[1:4] == ["First", "1 passage", "2024-01-01"]


def test_re_adding_a_file_under_another_title_corrects_its_title_in_place(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", "--title", "First", str(story))
    result = run(db, "add", "--title", "Fixed title", str(story))
    assert (result.stdout, result.stderr) == (
        "1\tFixed title\t1 passage\tupdated\n",
        "1 updated in library global.\n",
    )
    assert titles(db) == ["Fixed title"]


def test_re_adding_a_markdown_file_with_title_stores_no_second_copy(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.md", "# Sea wall vote\n\n" + STORY)
    run(db, "add", str(story))
    assert run(db, "add", "--title", "Sea wall", str(story)).stdout == "1\tSea wall\t1 passage\tupdated\n"
    assert titles(db) == ["Sea wall"]


def test_re_adding_a_file_with_another_date_updates_the_date_in_place(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", "--date", "2024-01-01", str(story))
    result = run(db, "add", "--date", "2024-05-02", str(story))
    assert (result.stdout, result.stderr) == ("1\tS\t1 passage\tupdated\n", "1 updated in library global.\n")
    assert run(db, "list", "--tsv").stdout.split("\t")[:4] == ["1", "S", "1 passage", "2024-05-02"]


def test_re_adding_a_file_with_the_same_date_is_unchanged(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", "--date", "2024-01-01", str(story))
    result = run(db, "add", "--date", "1 January 2024", str(story))
    assert (result.stdout, result.stderr) == (
        "1\tS\t1 passage\tunchanged\n",
        "1 unchanged in library global.\n",
    )


def test_re_adding_a_file_without_its_date_keeps_the_date(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", "--date", "2024-01-01", str(story))
    assert run(db, "add", str(story)).stdout == "1\tS\t1 passage\tunchanged\n"
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == "2024-01-01"


def test_re_adding_a_file_with_a_link_gives_its_article_that_link(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", str(story))
    assert run(db, "add", "--url", "https://news.test/sea-wall", str(story)).stdout.endswith("\tupdated\n")
    assert run(db, "list", "--tsv").stdout.rstrip("\n").split("\t")[4] == "https://news.test/sea-wall"


def test_a_record_added_again_with_another_date_updates_it_in_place(tmp_path):
    db = tmp_path / "c.db"
    feed = tmp_path / "f.jsonl"
    write(feed, json.dumps({"id": "sw-1", "title": "Sea wall", "text": STORY, "date": "2024-01-01"}))
    run(db, "add", str(feed))
    write(feed, json.dumps({"id": "sw-1", "title": "Sea wall vote", "text": STORY, "date": "2024-05-02"}))
    assert run(db, "add", str(feed)).stdout == "1\tSea wall vote\t1 passage\tupdated\n"
    assert run(db, "list", "--tsv").stdout.split("\t")[:4] == [
        "1",
        "Sea wall vote",
        "1 passage",
        "2024-05-02",
    ]


def test_an_answer_after_a_correction_shows_the_corrected_title_and_date(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", "--title", "Sea wall", "--date", "2024-01-01", str(story))
    run(db, "ask", "sea wall")  # as a running bot would have, before the correction
    run(db, "add", "--title", "Sea wall vote", "--date", "2024-05-02", str(story))
    result = json.loads(run(db, "ask", "--json", "sea wall").stdout)["results"][0]
    assert (result["title"], result["published"]) == ("Sea wall vote", "2024-05-02")


def test_as_new_with_the_same_text_corrects_nothing(tmp_path):
    db = tmp_path / "c.db"
    story = write(tmp_path / "s.txt", STORY)
    run(db, "add", "--date", "2024-01-01", str(story))
    assert (
        run(db, "add", "--as-new", "--date", "2024-05-02", str(story)).stdout
        == "1\tS\t1 passage\tunchanged\n"
    )
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == "2024-01-01"


class _Edited(BaseHTTPRequestHandler):
    version = 1

    def do_GET(self):
        body = (
            "<html><head><title>Dam opens</title></head><body><article><h1>Dam opens</h1><p>"
            + f"The new dam opened on Tuesday after {9 + _Edited.version} years of building. " * 4
            + "</p></article></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_edited_page_re_fetched_updates_the_article(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Edited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/dam"
    env = {"CLIPPINGS_ALLOW_PRIVATE_URLS": "1"}
    db = tmp_path / "c.db"
    try:
        assert run(db, "add", url, env=env).stdout == "1\tDam opens\t1 passage\tadded\n"
        _Edited.version = 2
        assert run(db, "add", url, env=env).stdout == "1\tDam opens\t1 passage\tupdated\n"
    finally:
        server.shutdown()
    answer = json.loads(run(db, "ask", "--json", "dam years").stdout)
    assert answer["results"][0]["passage"].startswith("The new dam opened on Tuesday after 11 years")


def test_a_link_re_added_with_a_password_or_a_fragment_updates_the_same_article(tmp_path):
    _Edited.version = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Edited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"127.0.0.1:{server.server_address[1]}"
    env = {"CLIPPINGS_ALLOW_PRIVATE_URLS": "1"}
    db = tmp_path / "c.db"
    try:
        added = run(db, "add", f"http://editor:hunter2@{origin}/dam", env=env)
        assert added.stdout == "1\tDam opens\t1 passage\tadded\n"
        _Edited.version = 2
        assert (
            run(db, "add", f"http://{origin}/dam#top", env=env).stdout == "1\tDam opens\t1 passage\tupdated\n"
        )
    finally:
        server.shutdown()
        _Edited.version = 1
    with Store(db) as store:
        stored = store.get_article("global", 1)
        assert (store.count_articles("global"), stored.url, stored.site) == (
            1,
            f"http://{origin}/dam",
            origin,
        )


def test_a_url_given_with_a_password_is_stored_without_it(tmp_path):
    db = tmp_path / "c.db"
    story = tmp_path / "dam.txt"
    story.write_text("Dam opens\n\nThe new dam opened on Tuesday after ten years of building.\n")
    assert run(db, "add", "--url", "https://editor:hunter2@news.example/dam#top", str(story)).exit_code == 0
    with Store(db) as store:
        assert store.get_article("global", 1).url == "https://news.example/dam"


# -- issue 15 point 2: dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "2025-03-14",
        "2025-03-14T09:30:00Z",
        "14 March 2025",
        "March 14, 2025",
        "Friday, 14 March 2025",
        "14/03/2025",
    ],
)
def test_a_date_in_an_accepted_form_is_stored_as_iso(tmp_path, given):
    db = tmp_path / "c.db"
    assert run(db, "add", "--date", given, str(write(tmp_path / "s.txt", STORY))).exit_code == 0
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == "2025-03-14"


@pytest.mark.parametrize(("order", "iso"), [("dmy", "2025-04-03"), ("mdy", "2025-03-04")])
def test_an_ambiguous_date_is_read_in_the_order_given(tmp_path, order, iso):
    db = tmp_path / "c.db"
    run(db, "add", "--date", "03/04/2025", "--date-order", order, str(write(tmp_path / "s.txt", STORY)))
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == iso


def test_an_ambiguous_date_without_an_order_is_refused(tmp_path):
    db = tmp_path / "c.db"
    result = run(db, "add", "--date", "03/04/2025", str(write(tmp_path / "s.txt", STORY)))
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: '03/04/2025' could be day/month or month/day; add --date-order dmy or mdy,"
        " or give it as 2025-03-14, 14 March 2025 or March 14, 2025.\n",
    )
    assert titles(db) == []


@pytest.mark.parametrize("given", ["last tuesday", "9999-99-99", "nan", "2025-02-30", "March 2025"])
def test_a_date_in_no_accepted_form_is_refused_and_nothing_added(tmp_path, given):
    db = tmp_path / "c.db"
    result = run(db, "add", "--date", given, str(write(tmp_path / "s.txt", STORY)))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {given!r} is not a date this can read; give it as 2025-03-14, 14 March 2025 or"
        " March 14, 2025 (03/04/2025 with --date-order dmy or mdy).\n",
    )
    assert titles(db) == []


def test_a_json_date_is_stored_as_iso_and_a_bad_one_refuses_the_record(tmp_path):
    db = tmp_path / "c.db"
    records = [
        {"title": "Good", "text": STORY, "date": "March 14, 2025"},
        {"title": "Bad", "text": STORY.replace("Tuesday", "Friday"), "date": "nan"},
    ]
    result = run(db, "add", str(write(tmp_path / "f.jsonl", "\n".join(json.dumps(r) for r in records))))
    assert result.exit_code == 1
    assert "'nan' is not a date this can read" in result.stderr
    assert run(db, "list", "--tsv").stdout.split("\t")[1:4] == ["Good", "1 passage", "2025-03-14"]


def test_an_ambiguous_date_in_a_record_asks_for_yyyy_mm_dd_not_date_order(tmp_path):
    # --date-order reads the --date option only, so it cannot settle a record's date.
    db = tmp_path / "c.db"
    feed = write(tmp_path / "f.jsonl", json.dumps({"title": "Odd", "text": STORY, "date": "03/04/2025"}))
    result = run(db, "add", "--date-order", "dmy", str(feed))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {feed} line 1: '03/04/2025' could be day/month or month/day; write it in the record"
        " as YYYY-MM-DD, such as 2025-03-14.\n1 failed in library global.\n",
    )


def test_an_unreadable_date_in_a_record_lists_the_forms_without_date_order(tmp_path):
    db = tmp_path / "c.db"
    feed = write(tmp_path / "f.jsonl", json.dumps({"title": "Odd", "text": STORY, "date": "last tuesday"}))
    result = run(db, "add", str(feed))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {feed} line 1: 'last tuesday' is not a date this can read; write it in the record as"
        " 2025-03-14, 14 March 2025 or March 14, 2025.\n1 failed in library global.\n",
    )


@pytest.mark.parametrize(
    "byline", ["Published 14 March 2025", "March 14, 2025 — Harbour desk", "By Ana Ruiz | 2025-03-14"]
)
def test_a_date_in_a_byline_is_found(tmp_path, byline):
    db = tmp_path / "c.db"
    run(db, "add", str(write(tmp_path / "s.md", f"# Sea wall vote\n\n{byline}\n\n{STORY}")))
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == "2025-03-14"


def in_days(days: int) -> date:
    """A day counted from today by the later of the local and UTC calendars, as the date rule counts."""
    return max(date.today(), datetime.now(UTC).date()) + timedelta(days=days)


@pytest.mark.parametrize("given", ["9999-12-31", "31 December 9999"])
def test_a_date_in_the_future_is_refused_and_nothing_added(tmp_path, given):
    db = tmp_path / "c.db"
    result = run(db, "add", "--date", given, str(write(tmp_path / "s.txt", STORY)))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {given!r} is in the future; give the date the article was published, as YYYY-MM-DD.\n",
    )
    assert titles(db) == []


def test_the_day_after_tomorrow_is_in_the_future(tmp_path):
    db = tmp_path / "c.db"
    given = in_days(2).isoformat()
    result = run(db, "add", "--date", given, str(write(tmp_path / "s.txt", STORY)))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {given!r} is in the future; give the date the article was published, as YYYY-MM-DD.\n",
    )


def test_tomorrow_is_taken_since_it_is_already_today_somewhere(tmp_path):
    db = tmp_path / "c.db"
    run(db, "add", "--date", in_days(1).isoformat(), str(write(tmp_path / "s.txt", STORY)))
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == in_days(1).isoformat()


@pytest.mark.parametrize("given", ["0001-01-01", "0999-12-31", "1 January 0500"])
def test_a_date_before_the_year_1000_is_refused_as_such(tmp_path, given):
    db = tmp_path / "c.db"
    result = run(db, "add", "--date", given, str(write(tmp_path / "s.txt", STORY)))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {given!r} is before the year 1000; give the date the article was published, as YYYY-MM-DD.\n",
    )


def test_the_year_1000_is_taken(tmp_path):
    db = tmp_path / "c.db"
    run(db, "add", "--date", "1000-01-01", str(write(tmp_path / "s.txt", STORY)))
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == "1000-01-01"


def test_a_future_date_in_a_record_refuses_that_record_only(tmp_path):
    db = tmp_path / "c.db"
    records = [
        {"title": "Late", "text": STORY, "date": "9999-12-31"},
        {"title": "Good", "text": STORY.replace("Tuesday", "Friday"), "date": "2025-03-14"},
    ]
    feed = write(tmp_path / "f.jsonl", "\n".join(json.dumps(r) for r in records))
    result = run(db, "add", str(feed))
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {feed} line 1: '9999-12-31' is in the future; write the date the article was published"
        " in the record, as YYYY-MM-DD.\n1 added, 1 failed in library global.\n",
    )
    assert titles(db) == ["Good"]


def test_a_future_date_in_a_byline_is_dropped_and_the_article_kept(tmp_path):
    db = tmp_path / "c.db"
    byline = f"Published {in_days(5):%d %B %Y}"
    result = run(db, "add", str(write(tmp_path / "s.md", f"# Sea wall vote\n\n{byline}\n\n{STORY}")))
    assert result.exit_code == 0
    assert run(db, "list", "--tsv").stdout.split("\t")[1:4] == ["Sea wall vote", "1 passage", ""]


def test_a_future_date_a_page_declares_is_dropped_and_the_page_kept(tmp_path):
    db = tmp_path / "c.db"
    page = (
        f'<html><head><title>Sea wall vote</title><meta property="article:published_time" content="{in_days(5)}">'
        f"</head><body><article><h1>Sea wall vote</h1><p>{STORY * 3}</p></article></body></html>"
    )
    result = run(db, "add", str(write(tmp_path / "s.html", page)))
    assert result.exit_code == 0
    assert run(db, "list", "--tsv").stdout.split("\t")[1:4] == ["Sea wall vote", "1 passage", ""]


def test_a_date_a_page_declares_for_tomorrow_is_kept_exactly(tmp_path):
    # htmldate on its own limit (today) made such a date the first of its month.
    db = tmp_path / "c.db"
    page = (
        f'<html><head><title>Sea wall vote</title><meta property="article:published_time" content="{in_days(1)}">'
        f"</head><body><article><h1>Sea wall vote</h1><p>{STORY * 3}</p></article></body></html>"
    )
    run(db, "add", str(write(tmp_path / "s.html", page)))
    assert run(db, "list", "--tsv").stdout.split("\t")[3] == in_days(1).isoformat()


# -- issue 15 point 3: --title replaces the headline ---------------------------------------------------


def test_title_on_a_markdown_file_replaces_its_headline(tmp_path):
    db = tmp_path / "c.db"
    run(db, "add", "--title", "Wall vote", str(write(tmp_path / "s.md", "# Sea wall vote\n\n" + STORY)))
    assert run(db, "show", "1").stdout.split("\n\n", 1)[1] == STORY


# -- issue 15 point 4: the CLI's edges ------------------------------------------------------------------


@pytest.fixture
def with_story(tmp_path):
    db = tmp_path / "c.db"
    run(db, "add", str(write(tmp_path / "s.txt", STORY)))
    return db


def test_an_empty_question_is_an_error(with_story):
    result = run(with_story, "ask", "")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: That question has no words to search for; ask with a few key words.\n",
    )


def test_learned_is_accepted_after_the_command(with_story):
    result = run(with_story, "ask", "--learned", "--json", "sea wall")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["passage"] == STORY.strip()


def test_an_unsupported_url_scheme_is_named(tmp_path):
    result = run(tmp_path / "c.db", "add", "ftp://example.com/a.txt")
    assert (result.exit_code, result.stderr.splitlines()[0]) == (
        1,
        "Error: ftp://example.com/a.txt is a ftp: link, which cannot be added; give an http or https link.",
    )


def test_an_unknown_library_is_named_with_the_libraries_there(with_story):
    result = run(with_story, "ask", "-l", "nosuch", "sea wall")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: no library named 'nosuch'; use one of the libraries here: global.\n",
    )


@pytest.mark.parametrize("command", ["show", "remove"])
def test_show_or_remove_in_an_unknown_library_names_it_with_the_libraries_there(with_story, command):
    result = run(with_story, command, "-l", "nosuch", "1")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: no library named 'nosuch'; use one of the libraries here: global.\n",
    )


def test_an_id_missing_from_another_library_points_at_listing_that_library(with_story, tmp_path):
    run(
        with_story,
        "add",
        "-l",
        "123456789012345678",
        str(write(tmp_path / "other.txt", STORY.replace("sea", "harbour"))),
    )
    result = run(with_story, "show", "-l", "123456789012345678", "1")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: There is no article 1 here; use `list -l 123456789012345678` to see the ids.\n",
    )


def test_list_on_a_terminal_has_a_header_and_aligned_columns(with_story, monkeypatch):
    monkeypatch.setattr(cli_module, "_terminal_width", lambda: 100)
    assert run(with_story, "list").stdout.splitlines() == [
        "ID  TITLE  PASSAGES   DATE  URL",
        "1   S      1 passage",
    ]


def test_list_piped_or_with_tsv_is_tab_separated(with_story, monkeypatch):
    assert run(with_story, "list").stdout == "1\tS\t1 passage\t\t\n"
    monkeypatch.setattr(cli_module, "_terminal_width", lambda: 100)
    assert run(with_story, "list", "--tsv").stdout == "1\tS\t1 passage\t\t\n"


def test_quotes_wrap_to_the_terminal_and_keep_their_prefix(with_story, monkeypatch):
    monkeypatch.setattr(cli_module, "_terminal_width", lambda: 40)
    lines = run(with_story, "ask", "sea wall").stdout.splitlines()
    quote = [line for line in lines if line.startswith("   >")]
    assert len(quote) > 1
    assert all(len(line) <= 40 for line in quote)
    assert " ".join(line[5:] for line in quote) == STORY.strip()


def test_help_gives_the_measured_speed_of_the_learned_stage():
    assert "about 40 passages a second on one core" in " ".join(
        CliRunner().invoke(cli, ["--help"]).output.split()
    )


def ask_dash(db, *options: str, **popen: object) -> subprocess.Popen:
    """`clippings ask --json [options] -` from this checkout, its pipes open."""
    return subprocess.Popen(
        [sys.executable, "-m", "index", "--db", str(db), "ask", "--json", *options, "-"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        **popen,
    )


def test_ask_dash_answers_each_line_as_it_arrives(with_story):
    process = ask_dash(with_story)
    try:
        process.stdin.write("sea wall\n")
        process.stdin.flush()
        # answered while stdin is still open
        assert select.select([process.stdout], [], [], 60)[0], "no answer before stdin closed"
        assert json.loads(process.stdout.readline())["question"] == "sea wall"
        process.stdin.write("harbour council\n")
        process.stdin.close()
        assert json.loads(process.stdout.readline())["question"] == "harbour council"
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()


def test_ctrl_c_during_ask_dash_in_two_processes_stops_both_without_a_traceback(with_story):
    # Its own process group, as a terminal's Ctrl-C reaches.
    process = ask_dash(with_story, "--jobs", "2", start_new_session=True)
    try:
        process.stdin.write("sea wall\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["question"] == "sea wall"
        time.sleep(2)  # the worker process has opened the database by now
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert (process.returncode, "Traceback" in err) == (1, False)
    finally:
        process.kill()
        process.wait()


def test_ask_dash_worker_processes_log_as_the_main_process_does(with_story):
    # A cache folder holding someone's file: every process that opens the database warns about it.
    folder = Path(f"{with_story}.index")
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    process = ask_dash(with_story, "--jobs", "2")
    try:
        _, err = process.communicate("sea wall\nharbour council\nsea wall\n", timeout=120)
    finally:
        process.kill()
        process.wait()
    warnings = [line for line in err.splitlines() if "is not a Clippings index folder" in line]
    assert len(warnings) == 2, err  # this process's and the worker's
    assert all(line.startswith("WARNING index.engine.cache: ") for line in warnings), err


def test_title_with_a_json_lines_file_is_refused_and_nothing_added(tmp_path):
    db = tmp_path / "c.db"
    records = write(tmp_path / "r.jsonl", json.dumps({"title": "Wall", "text": STORY}) + "\n")
    result = run(db, "add", "--title", "Mine", str(records))
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2,
        "Error: --title, --url and --date apply to one article, not to JSON records; give each record"
        " its own title, url and date fields instead.",
    )
    assert run(db, "list", "--tsv").stdout == ""


def test_date_with_json_on_stdin_is_refused_and_nothing_added(tmp_path):
    db = tmp_path / "c.db"
    result = run(db, "add", "--date", "2024-05-01", "-", input=json.dumps({"title": "Wall", "text": STORY}))
    assert (result.exit_code, result.stderr.splitlines()) == (
        1,
        [
            "Error: --title, --url and --date apply to one article, not to JSON records; give each record"
            " its own title, url and date fields instead.",
            "1 failed in library global.",
        ],
    )
    assert run(db, "list", "--tsv").stdout == ""


def test_a_list_limit_beyond_what_a_database_counts_is_refused(with_story):
    result = run(with_story, "list", "-n", "99999999999999999999")
    assert result.exit_code == 2
    assert "99999999999999999999 is not in the range 1<=x<=9223372036854775807" in result.stderr


def test_a_list_offset_beyond_what_a_database_counts_is_refused(with_story):
    result = run(with_story, "list", "--offset", "99999999999999999999")
    assert result.exit_code == 2
    assert "is not in the range 0<=x<=9223372036854775807" in result.stderr


@pytest.mark.parametrize("given", ["١", "1_000", "+1", " 1 2"])
def test_an_id_in_other_digits_or_with_separators_is_not_an_article_id(with_story, given):
    result = run(with_story, "show", given)
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {given!r} is not an article id; use `list` to see the ids.\n",
    )


# -- stdin, folders and records: what add reads ------------------------------------------------------------

RECORDS = [
    {"title": "Sea wall", "text": STORY},
    {"title": "Ferry", "text": STORY.replace("sea wall", "ferry pier")},
]


def test_a_pretty_printed_json_list_on_stdin_adds_every_record(tmp_path):
    db = tmp_path / "c.db"
    pretty = "[\n" + ",\n".join(json.dumps(r) for r in RECORDS) + "\n]\n"
    result = run(db, "add", "-", input=pretty)
    assert (result.exit_code, result.stderr) == (0, "2 added in library global.\n")
    assert sorted(titles(db)) == ["Ferry", "Sea wall"]


def test_json_lines_on_stdin_are_read_a_line_at_a_time(tmp_path):
    db = tmp_path / "c.db"
    lines = f"{json.dumps(RECORDS[0])}\n{{not json\n{json.dumps(RECORDS[1])}\n"
    result = run(db, "add", "-", input=lines)
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: <stdin> line 2 is not valid JSON (Expecting property name enclosed in double quotes at"
        " column 2); fix or remove it.\n2 added, 1 failed in library global.\n",
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_json_on_stdin_in_utf16_or_utf32_with_a_bom_is_read_as_json(tmp_path, encoding):
    db = tmp_path / "c.db"
    result = run(db, "add", "-", input=json.dumps(RECORDS).encode(encoding))
    assert (result.exit_code, result.stderr) == (0, "2 added in library global.\n")
    assert sorted(titles(db)) == ["Ferry", "Sea wall"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_json_lines_on_stdin_in_utf16_or_utf32_with_a_bom_are_read_as_json_lines(tmp_path, encoding):
    db = tmp_path / "c.db"
    lines = "".join(json.dumps(r) + "\n" for r in RECORDS)
    result = run(db, "add", "-", input=lines.encode(encoding))
    assert (result.exit_code, result.stderr) == (0, "2 added in library global.\n")
    assert sorted(titles(db)) == ["Ferry", "Sea wall"]


def test_adding_the_folder_that_holds_the_database_skips_its_index_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "CACHE_MIN_PASSAGES", 1)
    db = tmp_path / "c.db"
    write(tmp_path / "story.txt", "Sea wall vote\n\n" + STORY)
    run(db, "add", str(tmp_path))
    run(db, "ask", "sea wall")
    cache = tmp_path / "c.db.index"
    assert (cache / "CLIPPINGS-INDEX").is_file() and (cache / "manifest.json").is_file()
    result = run(db, "add", str(tmp_path))
    assert (result.exit_code, result.stderr) == (0, "1 unchanged in library global.\n")
