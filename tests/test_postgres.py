"""The PostgreSQL backend on the machine's own server: the same answers as SQLite, and several
processes sharing one database (following its change log)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner
from conftest import (
    BRIDGE_URL,
    EN_WEAPONS,
    HI_DAY,
    REPO,
    SAMPLE,
    STORE_SECRET_LINK,
    WEAPONS,
    ZH_WEAPONS,
    bridge,
    links_after_upgrade,
    stored_by_the_old_tokenizer,
)

from index import AddFailure, Article, ArticleRefused, DatabaseError, Store, StoredArticle, read_path
from index.cli import cli
from index.db import SqliteDatabase, open_database, postgres_migrations
from index.db.postgres import PostgresDatabase, connection_lost

SENTENCES = [s for s in re.split(r"(?<=[.!?”])\s*(?=[“A-Z])", SAMPLE.read_text()) if len(s.split()) > 5]
WORDS = [
    "harbour",
    "lighthouse",
    "ferry",
    "council",
    "budget",
    "tariff",
    "glacier",
    "vaccine",
    "orchard",
    "senate",
    "drought",
    "railway",
    "reactor",
    "satellite",
    "museum",
    "strike",
    "election",
    "pipeline",
    "wildfire",
    "treaty",
]
QUESTIONS = [
    "what did Qin say about weapons",
    "invisible hand protraction of the conflict",
    "peace talks should begin as soon as possible",
    "position paper met with disappointment",
    "harbour report lighthouse ferry",
    "who is China's foreign minister",
    "security governance of Europe",
    "budget tariff council",
    "Russian invasion February 24",
    "glacier drought wildfire treaty",
]
CHILD_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def corpus(count: int, seed: int = 0, tag: str = "a") -> list[Article]:
    """Articles made of the sample's sentences in random order, each with a sentence of its own."""
    rng = random.Random(seed)
    articles = []
    for i in range(count):
        picked = rng.sample(SENTENCES, k=rng.randint(3, min(9, len(SENTENCES))))
        own = f"The {tag}{i} harbour report named the {rng.choice(WORDS)} and the {rng.choice(WORDS)}."
        articles.append(
            Article(title=f"{tag} {i}", text=" ".join([*picked, own]), url=f"https://news.test/{tag}/{i}")
        )
    return articles


def run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def top10(store: Store, question: str, libraries: list[str]) -> list[tuple[str, int, str, float]]:
    return [
        (h.article.id, h.passage.index, h.passage.text, h.score)
        for h in store.search(question, libraries, k=10).hits
    ]


def assert_same_answers(expected: Store, actual: Store, libraries: list[str]) -> None:
    for question in QUESTIONS:
        want, got = top10(expected, question, libraries), top10(actual, question, libraries)
        assert [w[:3] for w in want] == [g[:3] for g in got], question
        assert all(abs(w[3] - g[3]) <= 1e-9 for w, g in zip(want, got, strict=True)), question


def same_changes(store: Store, articles: list[Article]) -> None:
    """Adds to two libraries, a removal and an update by URL: every kind of change-log entry."""
    list(store.add_many(articles[:30], "g1", batch=7))
    list(store.add_many(articles[30:], "global"))
    store.remove("g1", "3")
    store.add(
        Article(title="a 5", text="The budget council met at the harbour lighthouse.", url=articles[5].url),
        "g1",
    )
    store.add(articles[8], "g1")  # unchanged


def undated(value: object) -> object:
    """Articles without the second they were added at (the two stores add a moment apart)."""
    if isinstance(value, list):
        return [undated(v) for v in value]
    return dataclasses.replace(value, added_at="") if isinstance(value, StoredArticle) else value


def wait_until(condition, timeout: float = 5.0) -> float:
    """Seconds until `condition()` held (fails the test after `timeout`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def recount(url: str, library: str) -> tuple[int, int, dict[int, int]]:
    """(passages, total length, document frequency by term id) of a library, counted from the tables."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p.length, p.terms FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.library = %s",
            (library,),
        ).fetchall()
    df = Counter[int]()
    for _, blob in rows:
        df.update(np.frombuffer(blob, dtype="<u4").tolist())
    return len(rows), sum(r[0] for r in rows), dict(df)


def index_counts(store: Store, library: str) -> tuple[int, int, dict[int, int]]:
    lib = store.index.libraries[library]
    nonzero = np.flatnonzero(lib.df)
    return lib.docs, lib.total_len, dict(zip(nonzero.tolist(), lib.df[nonzero].tolist(), strict=True))


# -- one process ------------------------------------------------------------------------------


def test_a_postgresql_url_opens_the_postgresql_backend_and_a_path_sqlite(postgres_url, db_path):
    pg, lite = open_database(postgres_url), open_database(str(db_path))
    try:
        assert (type(pg), type(lite)) == (PostgresDatabase, SqliteDatabase)
    finally:
        pg.close()
        lite.close()


def test_no_server_at_the_url_is_one_sentence_naming_it_without_its_password():
    with pytest.raises(
        DatabaseError,
        match=r"^Could not connect to postgresql://someone@127\.0\.0\.1:1/x \(.+\); check that the server runs",
    ) as caught:
        Store("postgresql://someone:secret@127.0.0.1:1/x")
    assert "secret" not in str(caught.value)


def test_a_search_path_naming_no_schema_is_one_line_without_the_servers_sql_excerpt(postgres_database):
    url = f"{postgres_database}?options=-csearch_path%3Dno_such_schema"
    result = CliRunner().invoke(cli, ["--db", url, "stats"])
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: {postgres_database} could not be prepared (no schema has been selected to create in);"
        " check the user's rights, and that a schema named in the URL's search_path exists.\n",
    )


def test_a_database_of_another_program_is_refused(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(DatabaseError, match="holds tables of another program"):
        Store(postgres_url)


def test_reopening_migrates_nothing_and_keeps_the_articles(postgres_url):
    with Store(postgres_url) as store:
        store.add(corpus(1)[0], "g1")
    with Store(postgres_url) as store, psycopg.connect(postgres_url) as conn:
        assert store.count_articles("g1") == 1
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("8",)


def test_postgresql_gives_sqlite_s_top_10_with_the_same_scores(postgres_url, db_path):
    articles = corpus(45, seed=1)
    with Store(db_path, ranker=None) as lite, Store(postgres_url, ranker=None) as pg:
        same_changes(lite, articles)
        same_changes(pg, articles)
        assert_same_answers(lite, pg, ["g1", "global"])
        assert_same_answers(lite, pg, ["g1"])


def test_postgresql_gives_sqlite_s_reranked_order(postgres_url, db_path):
    articles = corpus(45, seed=2)
    with Store(db_path) as lite, Store(postgres_url) as pg:
        same_changes(lite, articles)
        same_changes(pg, articles)
        for question in QUESTIONS:
            assert top10(lite, question, ["g1", "global"]) == top10(pg, question, ["g1", "global"])


def test_postgresql_keeps_dedupe_updates_settings_and_listing_as_sqlite_does(postgres_url, db_path):
    articles = corpus(12, seed=3)
    with Store(db_path) as lite, Store(postgres_url) as pg:
        for store in (lite, pg):
            same_changes(store, articles)
            store.set_setting("g1", "newsroom", "42")
            store.set_setting("g1", "gone", "1")
            store.set_setting("g1", "gone", None)
            store.set_setting("g1", "news_post:1", "a")
            store.set_setting("g1", "newsXpost:2", "b")
        for method, args in [
            ("list_articles", ("g1",)),
            ("list_articles", ("g1", 0, 50, "A 1")),
            ("count_articles", ("global",)),
            ("passages", ("g1", "5")),
            ("article_text", ("g1", "7")),
        ]:
            assert undated(getattr(lite, method)(*args)) == undated(getattr(pg, method)(*args)), method
        assert (pg.get_setting("g1", "newsroom"), pg.get_setting("g1", "gone")) == ("42", None)
        assert pg.settings("g1", "news_") == lite.settings("g1", "news_") == {"news_post:1": "a"}
        assert lite.stats()["libraries"] == pg.stats()["libraries"]


def test_a_lazy_store_keeps_only_the_libraries_it_was_asked_about(postgres_url):
    with Store(postgres_url) as writer:
        list(writer.add_many(corpus(6, tag="one"), "111"))
        list(writer.add_many(corpus(6, tag="two"), "222"))
        list(writer.add_many(corpus(3, tag="glob"), "global"))
    with Store(postgres_url) as bot:
        bot.search("harbour report", ["111", "global"])
        assert bot.loaded_libraries == ["111", "global"]


def test_a_library_loaded_after_changes_is_not_counted_twice(postgres_url):
    with Store(postgres_url) as writer, Store(postgres_url) as reader:
        list(writer.add_many(corpus(5, tag="x"), "g1"))
        reader.search("harbour report", ["global"])  # follows the log, g1 not loaded yet
        list(writer.add_many(corpus(5, seed=9, tag="y"), "g1"))
        writer.remove("g1", "2")
        reader.search("harbour report", ["g1"])
        wait_until(lambda: reader._seq == writer.db.latest_change())
        assert index_counts(reader, "g1") == recount(postgres_url, "g1")


# -- several processes ------------------------------------------------------------------------


def ask(process: subprocess.Popen, question: str, timeout: float = 20) -> dict:
    """One question to a running `clippings ask --json -`, and its answer."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(question + "\n")
    process.stdin.flush()
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"no answer to {question!r} within {timeout} s"
    return json.loads(process.stdout.readline())


def titles(answer: dict) -> list[str]:
    return [hit["title"] for hit in answer["results"]]


def test_an_add_and_a_remove_by_one_process_reach_two_running_askers_within_a_second(postgres_url, tmp_path):
    with Store(postgres_url) as store:
        list(store.add_many(corpus(10), "g1"))
    askers = [
        subprocess.Popen(
            [sys.executable, "-m", "index", "--db", postgres_url, "ask", "--json", "-l", "g1", "-"],
            cwd=REPO,
            env=CHILD_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for asker in askers:
            assert "Zeppelin" not in titles(ask(asker, "zeppelin lighthouse dawn"))
        story = tmp_path / "zeppelin.txt"
        story.write_text("A zeppelin landed beside the lighthouse at dawn, and the harbour came to watch.")
        cli = [sys.executable, "-m", "index", "--db", postgres_url]
        subprocess.run(
            [*cli, "add", "-l", "g1", "--title", "Zeppelin", str(story)], cwd=REPO, env=CHILD_ENV, check=True
        )
        # How soon is benchmarks/scale.py's to measure; here, each process finds it.
        for asker in askers:
            wait_until(lambda a=asker: "Zeppelin" in titles(ask(a, "zeppelin lighthouse dawn")), timeout=30)
        subprocess.run(
            [*cli, "remove", "-l", "g1", "11"], cwd=REPO, env=CHILD_ENV, check=True, capture_output=True
        )
        for asker in askers:
            wait_until(
                lambda a=asker: "Zeppelin" not in titles(ask(a, "zeppelin lighthouse dawn")), timeout=30
            )
    finally:
        for asker in askers:
            asker.stdin.close()
            asker.wait(timeout=20)


WRITER = """
import sys
sys.path.insert(0, "tests")
from test_postgres import corpus
from index import Store
url, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Store(url, ranker=None) as store:
    shared = corpus(6, seed=99, tag="shared")  # every writer adds these: each is stored once
    mine = corpus(12, seed=seed, tag=tag)
    ids = []
    for own, same in zip(mine, shared + shared):
        ids.append(store.add(own, "shared").article.id)
        store.add(same, "shared")
    for article_id in ids[::3]:
        store.remove("shared", article_id)
"""


def test_concurrent_writers_leave_library_statistics_equal_to_a_recount(postgres_url):
    with Store(postgres_url, ranker=None) as follower:
        follower.add(corpus(1, tag="first")[0], "shared")
        follower.search("harbour report", ["shared"])
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, postgres_url, f"w{i}", str(i)],
                cwd=REPO,
                env=CHILD_ENV,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        for writer in writers:
            assert writer.wait(timeout=120) == 0, writer.stderr.read() if writer.stderr else ""
        wait_until(lambda: follower._seq == follower.db.latest_change())
        expected = recount(postgres_url, "shared")
        assert index_counts(follower, "shared") == expected
        with Store(postgres_url, ranker=None) as fresh:
            fresh.search("harbour report", ["shared"])
            assert index_counts(fresh, "shared") == expected
        assert follower.count_articles("shared") == 1 + 6 + 3 * 8  # 12 each, a third removed


KILLED = """
import os, signal, sys
from index import Article, Store
from index.db import postgres_migrations
from index.db.postgres import PostgresDatabase, connection_lost
url, when = sys.argv[1], sys.argv[2]
def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)
if when == "before-commit":
    PostgresDatabase._announce = die  # the last statement of the write transaction
else:
    store_batch = Store._store_batch
    def committed_then_die(self, *args):
        store_batch(self, *args)
        die()
    Store._store_batch = committed_then_die
with Store(url) as store:
    store.add(Article(title="Zeppelin", text="A zeppelin landed beside the lighthouse at dawn."), "g1")
"""


def test_a_writer_killed_before_its_commit_leaves_nothing(postgres_url):
    with Store(postgres_url) as follower:
        list(follower.add_many(corpus(4), "g1"))
        follower.search("harbour", ["g1"])
        assert run_child(KILLED, postgres_url, "before-commit").returncode == -signal.SIGKILL
        follower.add(corpus(1, seed=5, tag="later")[0], "g1")  # the write lock was let go
        assert "Zeppelin" not in [
            h.article.title for h in follower.search("zeppelin lighthouse", ["g1"]).hits
        ]
        assert follower.count_articles("g1") == 5
        assert index_counts(follower, "g1") == recount(postgres_url, "g1")


def test_a_writer_killed_after_its_commit_lost_nothing(postgres_url):
    with Store(postgres_url) as follower:
        list(follower.add_many(corpus(4), "g1"))
        follower.search("harbour", ["g1"])
        assert run_child(KILLED, postgres_url, "after-commit").returncode == -signal.SIGKILL
        wait_until(lambda: follower._seq == follower.db.latest_change(), timeout=1.0)
        assert follower.search("zeppelin lighthouse", ["g1"]).hits[0].article.title == "Zeppelin"
        with Store(postgres_url) as restarted:
            assert restarted.search("zeppelin lighthouse", ["g1"]).hits[0].article.title == "Zeppelin"
            assert index_counts(restarted, "g1") == recount(postgres_url, "g1")


def test_a_process_started_after_many_changes_catches_up(postgres_url, db_path):
    articles = corpus(300, seed=4)
    with Store(postgres_url, ranker=None) as early, Store(db_path, ranker=None) as lite:
        early.search("harbour", ["g1"])  # loaded while the library was empty
        for store in (lite, early):
            with Store(store.path, ranker=None) as writer:
                list(writer.add_many(articles, "g1"))
                for article_id in range(1, 301, 2):
                    writer.remove("g1", str(article_id))
        with Store(postgres_url, ranker=None) as late:
            assert late.db.latest_change() == 450
            assert_same_answers(lite, late, ["g1"])
            assert_same_answers(lite, early, ["g1"])


def test_libraries_loaded_together_in_small_chunks_match_a_recount(postgres_url, monkeypatch):
    monkeypatch.setattr("index.store.LOAD_CHUNK", 4)  # libraries split over several chunks
    with Store(postgres_url) as writer:
        for name, seed in (("a", 1), ("b", 2), ("c", 3)):
            list(writer.add_many(corpus(5, seed=seed, tag=name), name))
        writer.remove("b", "7")
    with Store(postgres_url) as reader:
        reader.ensure_loaded(["c", "a", "b"])
        for name in ("a", "b", "c"):
            assert index_counts(reader, name) == recount(postgres_url, name)


def test_searches_on_many_threads_while_another_thread_adds_all_succeed(postgres_url):
    errors: list[BaseException] = []
    with Store(postgres_url) as store:
        list(store.add_many(corpus(10), "g1"))

        def search() -> None:
            try:
                for question in QUESTIONS * 2:
                    assert store.search(question, ["g1", "global"]).hits
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=search) for _ in range(4)]
        for thread in threads:
            thread.start()
        for article in corpus(15, seed=7, tag="more"):
            store.add(article, "g1")
        for thread in threads:
            thread.join()
        assert errors == []
        store.search("harbour", ["g1"])
        assert index_counts(store, "g1") == recount(postgres_url, "g1")


def test_a_store_keeps_answering_and_following_after_its_connections_are_cut(postgres_url):
    with Store(postgres_url) as store, Store(postgres_url) as writer:
        list(writer.add_many(corpus(5), "g1"))
        assert store.search("harbour report", ["g1"]).hits
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert store.search("harbour report", ["g1"]).hits
        writer.add(Article(title="Zeppelin", text="A zeppelin landed beside the lighthouse at dawn."), "g1")
        assert store.search("zeppelin lighthouse", ["g1"]).hits[0].article.title == "Zeppelin"


def test_a_cut_listening_connection_is_logged_as_one_line(postgres_url, caplog):
    with Store(postgres_url) as store:
        store.search("harbour", ["g1"])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_until(lambda: any("lost the change notifications" in r.getMessage() for r in caplog.records))
    [lost] = [r.getMessage() for r in caplog.records if "lost the change notifications" in r.getMessage()]
    assert "\n" not in lost and lost.endswith("; reconnecting")


def test_the_cli_adds_and_asks_on_a_postgresql_url(postgres_url):
    runner = CliRunner()
    added = runner.invoke(cli, ["--db", postgres_url, "add", str(SAMPLE)], catch_exceptions=False)
    assert added.exit_code == 0, added.output
    asked = runner.invoke(cli, ["--db", postgres_url, "ask", "--json", "what did Qin say about weapons"])
    assert json.loads(asked.output)["results"][0]["passage"].startswith(WEAPONS)


def test_backup_of_a_postgresql_url_says_to_use_pg_dump(postgres_url, tmp_path):
    result = CliRunner().invoke(cli, ["--db", postgres_url, "backup", str(tmp_path / "copy.db")])
    assert result.exit_code == 1
    assert "back up a PostgreSQL database with pg_dump" in result.output
    assert not (tmp_path / "copy.db").exists()


def test_a_follower_wakes_on_the_notification_without_a_search(postgres_url):
    with Store(postgres_url) as follower, Store(postgres_url) as writer:
        follower.search("harbour", ["g1"])
        writer.add(corpus(1)[0], "g1")
        wait_until(lambda: follower._seq == writer.db.latest_change(), timeout=1.0)
        assert len(follower.index.libraries["g1"].articles) == 1


def test_a_lost_notification_is_covered_by_polling(postgres_url):
    with Store(postgres_url) as follower, Store(postgres_url) as writer:
        follower.search("harbour", ["g1"])
        writer.db._announce = lambda conn: None  # type: ignore[attr-defined]  # the NOTIFY never comes
        writer.add(corpus(1)[0], "g1")
        wait_until(lambda: follower._seq == writer.db.latest_change(), timeout=1.0)
        assert len(follower.index.libraries["g1"].articles) == 1


def test_postgresql_tells_new_versions_of_an_article_as_sqlite_does(postgres_url, db_path):
    versions = [
        Article(title="Budget", text="The council approved the budget on Monday.", source="a.txt"),
        Article(title="Budget", text="The council approved the budget on Tuesday.", source="a.txt"),
        Article(title="Budget", text="The council rejected the budget on Friday.", source="b.txt"),
        Article(title="Vote", text="The senate voted.", url="https://news.test/vote"),
        Article(title="Vote again", text="The senate voted twice.", url="https://news.test/vote"),
        Article(title="Vote", text="the   SENATE voted."),
    ]
    with Store(db_path) as lite, Store(postgres_url) as pg:
        outcomes = [
            [(r.status, r.article.id) for r in (store.add(v, "g1") for v in versions)] for store in (lite, pg)
        ]
        assert outcomes[0] == outcomes[1]
        assert undated(lite.list_articles("g1")) == undated(pg.list_articles("g1"))


def test_postgresql_corrects_the_fields_of_an_article_added_again_as_sqlite_does(postgres_url, db_path):
    vote = "The council approved the budget on Monday after a long debate about the harbour."
    versions = [
        Article(title="Vote", text=vote, url="https://news.test/vote", published="2024-01-01"),
        Article(
            title="Budget vote", text=vote, url="https://news.test/vote", published="2024-05-02", author="Ana"
        ),
        Article(title="Budget vote", text=vote, url="https://news.test/vote"),  # nothing new: unchanged
        Article(
            title="Copy", text=vote, url="https://news.test/copy", published="2023-01-01"
        ),  # another link
        Article(title="Ferry", text="The ferry strike ended on Friday.", source="f.txt"),
        Article(title="Ferry strike ends", text="The ferry strike ended on Friday.", source="f.txt"),
        Article(title="Ferry copy", text="The ferry strike ended on Friday.", source="g.txt"),
        Article(title="Vote", text=vote, url="https://news.test/vote", published="2024-06-01"),
    ]
    with Store(db_path) as lite, Store(postgres_url) as pg:
        outcomes = [
            [(r.status, r.article.id) for r in (store.add(dataclasses.replace(v), "g1") for v in versions)]
            for store in (lite, pg)
        ]
        assert outcomes[0] == outcomes[1]
        assert [status for status, _ in outcomes[1]] == [
            "added",
            "updated",
            "unchanged",
            "unchanged",
            "added",
            "updated",
            "unchanged",
            "updated",
        ]
        assert undated(lite.list_articles("g1")) == undated(pg.list_articles("g1"))
        stored = {(a.title, a.url, a.published, a.author) for a in pg.list_articles("g1")}
        assert stored == {
            ("Vote", "https://news.test/vote", "2024-06-01", "Ana"),
            ("Ferry strike ends", None, None, None),
        }


def test_a_title_corrected_in_place_reaches_another_process_s_search_and_title_filter(postgres_url):
    vote = "The council approved the budget on Monday after a long debate about the harbour."
    with Store(postgres_url) as bot, Store(postgres_url) as cli:
        cli.add(Article(title="Vote", text=vote, url="https://news.test/vote", published="2024-01-01"), "g1")
        before = bot.search("budget harbour", ["g1"]).hits[0].article
        changes = cli.db.latest_change()
        cli.add(
            Article(title="Élan vote", text=vote, url="https://news.test/vote", published="2024-05-02"), "g1"
        )
        after = bot.search("budget harbour", ["g1"]).hits[0].article
        assert (before.title, before.published) == ("Vote", "2024-01-01")
        assert (after.id, after.title, after.published) == (before.id, "Élan vote", "2024-05-02")
        assert cli.db.latest_change() == changes  # the passages, and so every index, stay as they were
        assert titles_containing(bot, "ÉLAN") == ["Élan vote"]


def test_a_json_record_with_nul_in_its_fields_is_stored_without_it(postgres_url, tmp_path):
    path = tmp_path / "feed.json"
    path.write_text(
        json.dumps(
            {
                "title": "Nul\u0000 author",
                "text": "The council\u0000 approved the budget.",
                "author": "Bob\u0000Smith",
            }
        )
    )
    with Store(postgres_url, ranker=None) as store:
        (result,) = store.add_many(read_path(str(path)), "global")
        stored = store.get_article("global", result.article.id)
        text = store.article_text("global", stored.id)
    assert (stored.title, stored.author, text) == (
        "Nul author",
        "Bob Smith",
        "The council approved the budget.",
    )


# -- values longer than a btree entry, and articles the server refuses (schema 3) ------------------


def random_text(alphabet: str, length: int, seed: int) -> str:
    """Characters that do not compress (PostgreSQL compresses an index entry before its size check)."""
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(length))


LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TANGUT = "".join(chr(c) for c in range(0x17000, 0x187F8))
"""Tangut ideographs: 4 bytes a character, and a run of them is one term (unlike a run of Chinese ones)."""


def test_an_article_with_a_3000_character_url_is_updated_in_place_when_added_again(postgres_url):
    url = "https://news.test/" + random_text(LETTERS, 3000, seed=1)
    with Store(postgres_url) as store:
        first = store.add(
            Article(title="Long link", text="The harbour council met on Monday.", url=url), "g1"
        )
        again = store.add(
            Article(title="Long link", text="The harbour council met on Tuesday.", url=url), "g1"
        )
        assert (first.status, again.status, again.article.id) == ("added", "updated", first.article.id)
        assert (store.count_articles("g1"), store.get_article("g1", first.article.id).url) == (1, url)


def test_the_cli_adds_all_150_records_of_a_feed_whose_record_120_has_a_3000_character_url(
    postgres_url, tmp_path
):
    records = [
        {"title": f"Story {i}", "text": f"Story {i} about the harbour.", "url": f"https://news.test/{i}"}
        for i in range(150)
    ]
    records[119]["url"] = "https://news.test/" + random_text(LETTERS, 3000, seed=5)
    feed = tmp_path / "part.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = CliRunner().invoke(cli, ["--db", postgres_url, "add", str(feed)])
    assert (result.exit_code, result.stderr) == (0, "150 added in library global.\n")
    with Store(postgres_url) as store:
        assert store.count_articles("global") == 150


def test_an_article_without_a_url_and_a_3000_character_title_is_updated_in_place(postgres_url):
    title = random_text(LETTERS, 3000, seed=2)
    with Store(postgres_url) as store:
        first = store.add(Article(title=title, text="The senate voted.", source="a.txt"), "g1")
        again = store.add(Article(title=title, text="The senate voted twice.", source="a.txt"), "g1")
        assert (first.status, again.status, again.article.id) == ("added", "updated", first.article.id)


def test_an_article_with_one_690_character_tangut_word_is_stored_and_found_by_that_word(postgres_url):
    word = random_text(TANGUT, 690, seed=3)
    assert len(word.encode()) == 2760
    with Store(postgres_url) as store:
        added = store.add(Article(title="Tangut", text=f"{word}. The report quoted it in full."), "g1")
        hits = store.search(word, ["g1"]).hits
        assert [(h.article.id, h.passage.index, h.passage.text) for h in hits] == [
            (added.article.id, 0, f"{word}.")
        ]


def test_the_same_long_word_in_two_articles_is_one_term(postgres_url):
    word = random_text(TANGUT, 690, seed=4)
    with Store(postgres_url) as store, psycopg.connect(postgres_url) as conn:
        store.add(Article(title="One", text=f"{word}. The first report."), "g1")
        store.add(Article(title="Two", text=f"{word}. The second report."), "g1")
        assert conn.execute("SELECT count(*) FROM terms WHERE term = %s", (word,)).fetchone() == (1,)


def test_finding_a_url_and_a_term_uses_their_indexes(postgres_url):
    with Store(postgres_url) as store, psycopg.connect(postgres_url) as conn:
        list(store.add_many(corpus(300), "g1"))
        conn.execute("INSERT INTO terms (term) SELECT 'filler' || n FROM generate_series(1, 100000) AS n")
        conn.execute("ANALYZE articles")
        conn.execute("ANALYZE terms")
        url_plan = conn.execute(
            "EXPLAIN SELECT id FROM articles WHERE library = %s AND md5(url) = md5(%s) AND url = %s"
            " ORDER BY id DESC LIMIT 1",
            ("g1", "https://news.test/a/7", "https://news.test/a/7"),
        ).fetchall()
        title_plan = conn.execute(
            "EXPLAIN SELECT id FROM articles WHERE library = %s AND url IS NULL AND md5(title) = md5(%s)"
            " AND title = %s AND source IS NOT DISTINCT FROM %s ORDER BY id DESC LIMIT 1",
            ("g1", "a 7", "a 7", None),
        ).fetchall()
        term_plan = conn.execute(
            "EXPLAIN SELECT term, id FROM terms WHERE term = ANY(%s)", (["harbour", "ferry"],)
        ).fetchall()
        assert "using articles_by_url" in " ".join(r[0] for r in url_plan)
        assert "using articles_by_title" in " ".join(r[0] for r in title_plan)
        assert "on terms_by_term" in " ".join(r[0] for r in term_plan)


def test_one_article_the_server_refuses_leaves_the_others_of_its_batch_stored(postgres_url):
    articles = corpus(150)
    articles[119].text += " A NUL \x00 byte."
    with Store(postgres_url) as store:
        results = list(store.add_many(articles, "g1"))
        assert [r.status for r in results] == ["added"] * 119 + ["failed"] + ["added"] * 30
        assert results[119] == AddFailure("a 119", "https://news.test/a/119", NUL_CAUSE)
        assert store.count_articles("g1") == 149
        assert store.search("a149 harbour report", ["g1"]).hits[0].article.title == "a 149"


NUL_CAUSE = "PostgreSQL text fields cannot contain NUL (0x00) bytes"


def test_adding_one_article_the_server_refuses_raises_article_refused(postgres_url):
    with Store(postgres_url) as store, pytest.raises(ArticleRefused) as raised:
        store.add(Article(title="Nul", text="A NUL \x00 byte."), "g1")
    assert str(raised.value) == (
        f"'Nul' was not stored: the database refused it ({NUL_CAUSE}); fix that article, or the"
        " database rule it names, and add it again."
    )


def feed_of_150_with(tmp_path: Path, title_119: str) -> Path:
    """A JSON Lines feed of 150 stories whose record 120 has the title `title_119`."""
    records = [
        {"title": f"Story {i}", "text": f"Story {i} about the harbour.", "url": f"https://news.test/{i}"}
        for i in range(150)
    ]
    records[119]["title"] = title_119
    feed = tmp_path / "part.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    return feed


def test_the_cli_counts_an_article_the_server_refuses_as_failed_and_adds_the_rest(postgres_url, tmp_path):
    with Store(postgres_url), psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE articles ADD CONSTRAINT no_drafts CHECK (title NOT LIKE 'Draft%%')")
    result = CliRunner().invoke(
        cli, ["--db", postgres_url, "add", str(feed_of_150_with(tmp_path, "Draft 119"))]
    )
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: 'Draft 119' was not stored: the database refused it (new row for relation \"articles\""
        ' violates check constraint "no_drafts"); fix that article, or the database rule it names, and'
        " add it again.\n149 added, 1 failed in library global.\n",
    )
    with Store(postgres_url) as store:
        assert store.count_articles("global") == 149


def on_inserting(postgres_url: str, title: str, body: str) -> None:
    """Run the PL/pgSQL `body` on the server as the article titled `title` is inserted."""
    with Store(postgres_url), psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE FUNCTION on_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER on_insert BEFORE INSERT ON articles FOR EACH ROW"
            f" WHEN (NEW.title = '{title}') EXECUTE FUNCTION on_insert()"
        )


def test_the_cli_counts_an_article_whose_statement_times_out_as_failed_and_adds_the_rest(
    postgres_url, tmp_path
):
    on_inserting(postgres_url, "Slow 119", "PERFORM pg_sleep(600);")
    timed = postgres_url + "%20-cstatement_timeout%3D2000"  # 2 s for each statement of the run
    result = CliRunner().invoke(cli, ["--db", timed, "add", str(feed_of_150_with(tmp_path, "Slow 119"))])
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: 'Slow 119' was not stored: the database failed while storing it (canceling statement due"
        " to statement timeout); fix what it names and add that article again.\n149 added, 1 failed in"
        " library global.\n",
    )
    with Store(postgres_url) as store:
        assert store.count_articles("global") == 149


def test_a_connection_lost_while_adding_an_article_still_ends_the_run_as_the_server_stopped_answering(
    postgres_url, tmp_path
):
    on_inserting(
        postgres_url, "Cut 119", "PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(600);"
    )
    result = CliRunner().invoke(
        cli, ["--db", postgres_url, "add", str(feed_of_150_with(tmp_path, "Cut 119"))]
    )
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: the PostgreSQL server stopped answering (terminating connection due to administrator"
        " command); try again when it is back.\n",
    )
    with Store(postgres_url) as store:
        assert store.count_articles("global") == 100  # the first batch was committed before it


def test_a_command_the_server_refuses_is_not_told_as_a_lost_server(postgres_url):
    with Store(postgres_url) as store, psycopg.connect(postgres_url, autocommit=True) as conn:
        article = store.add(corpus(1)[0], "global").article
        conn.execute(
            "CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'articles are on legal hold'; END $$"
        )
        conn.execute("CREATE TRIGGER hold BEFORE DELETE ON articles FOR EACH ROW EXECUTE FUNCTION keep()")
    result = CliRunner().invoke(cli, ["--db", postgres_url, "remove", article.id])
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: the PostgreSQL server refused the command (articles are on legal hold);"
        " fix what it names and try again.\n",
    )


def test_only_a_lost_connection_is_told_as_the_server_stopped_answering(postgres_url):
    errors = []
    try:
        psycopg.connect("postgresql://127.0.0.1:1/test", connect_timeout=2)
    except psycopg.Error as exc:
        errors.append(exc)
    with psycopg.connect(postgres_url, autocommit=True) as conn, psycopg.connect(postgres_url) as victim:
        conn.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
        for query in ("SELECT 1", "SELECT 1 / 0", "SELECT repeat('x', 2) FROM missing_table"):
            try:
                (victim if query == "SELECT 1" else conn).execute(query)
            except psycopg.Error as exc:
                errors.append(exc)
    assert [(type(e).__name__, connection_lost(e)) for e in errors] == [
        ("OperationalError", True),
        ("AdminShutdown", True),
        ("DivisionByZero", False),
        ("UndefinedTable", False),
    ]


def test_a_schema_2_database_is_migrated_keeping_its_articles_and_their_identities(postgres_url, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(postgres_migrations, "MIGRATIONS", postgres_migrations.MIGRATIONS[:2])
        patch.setattr(postgres_migrations, "SCHEMA_VERSION", 2)
        PostgresDatabase(postgres_url).close()  # schema 2, as an older Clippings left it
        with psycopg.connect(postgres_url) as conn:
            for title, url in (("Élan story Zeta", "https://news.test/elan"), ("Straße closed", None)):
                conn.execute(
                    "INSERT INTO articles (library, title, url, source, content_hash, text, passage_count,"
                    " added_at) VALUES ('g1', %s, %s, 'a.txt', md5(%s), 'old text', 0, '2024-01-01')",
                    (title, url, title),
                )
            conn.commit()
    with Store(postgres_url) as store, psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("8",)
        assert [a.title for a in store.list_articles("g1", title_contains="ÉLAN")] == ["Élan story Zeta"]
        assert [a.title for a in store.list_articles("g1", title_contains="STRASSE")] == ["Straße closed"]
        by_url = store.add(Article(title="Élan", text="New text.", url="https://news.test/elan"), "g1")
        by_title = store.add(Article(title="Straße closed", text="New text too.", source="a.txt"), "g1")
        assert [(r.status, r.article.id) for r in (by_url, by_title)] == [("updated", "1"), ("updated", "2")]


def test_a_database_of_the_first_postgresql_release_is_migrated_so_articles_can_be_added_and_found(
    postgres_url, monkeypatch
):
    # Schema 1 as the first PostgreSQL release created it: without articles.chars, which was later
    # written into migration 1 itself, so databases made before never got it.
    generated = "chars integer GENERATED ALWAYS AS (char_length(text)) STORED,"
    first_release = str(postgres_migrations.MIGRATIONS[0]).replace(generated, "")
    assert first_release != postgres_migrations.MIGRATIONS[0]
    with monkeypatch.context() as patch:
        patch.setattr(postgres_migrations, "MIGRATIONS", [first_release, postgres_migrations.MIGRATIONS[1]])
        patch.setattr(postgres_migrations, "SCHEMA_VERSION", 2)
        PostgresDatabase(postgres_url).close()
    with Store(postgres_url) as store:
        added = store.add(next(read_path(str(SAMPLE))), "global")
        assert added.status == "added"
        assert (
            store.search("what did Qin say about weapons", ["global"])
            .hits[0]
            .passage.text.startswith(WEAPONS)
        )


# -- the title filter: str.casefold on both backends -------------------------------------------------

TITLES = ["Élan story Zeta", "Straße closed", "STRASSE open", "100% pure_gold", "Other"]


def titles_containing(store: Store, text: str) -> list[str]:
    return [a.title for a in store.list_articles("g1", title_contains=text)]


def add_titles(store: Store) -> None:
    for i, title in enumerate(TITLES):
        store.add(Article(title=title, text=f"Story {i} about the harbour."), "g1")


def test_the_title_filter_matches_by_casefold_alike_on_sqlite_and_postgresql(postgres_url, db_path):
    with Store(db_path) as lite, Store(postgres_url) as pg:
        add_titles(lite)
        add_titles(pg)
        for store in (lite, pg):
            found = {
                text: titles_containing(store, text) for text in ("élan", "ÉLAN", "straße", "STRASSE", "zeta")
            }
            assert found == {
                "élan": ["Élan story Zeta"],
                "ÉLAN": ["Élan story Zeta"],
                "straße": ["STRASSE open", "Straße closed"],
                "STRASSE": ["STRASSE open", "Straße closed"],
                "zeta": ["Élan story Zeta"],
            }


def test_an_article_added_without_a_folded_title_by_an_older_process_is_found_by_the_filter(postgres_url):
    with Store(postgres_url) as pg:
        add_titles(pg)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # What a process of the previous schema, still running during an upgrade, inserts.
        conn.execute("UPDATE articles SET title_folded = NULL WHERE title = 'Élan story Zeta'")
    with Store(postgres_url) as pg:
        assert titles_containing(pg, "élan") == ["Élan story Zeta"]


def test_the_title_filter_takes_percent_and_underscore_literally_on_sqlite_and_postgresql(
    postgres_url, db_path
):
    with Store(db_path) as lite, Store(postgres_url) as pg:
        add_titles(lite)
        add_titles(pg)
        for store in (lite, pg):
            found = {text: titles_containing(store, text) for text in ("%", "_", "0% p", "e_g", "p_r", "S%E")}
            assert found == {
                "%": ["100% pure_gold"],
                "_": ["100% pure_gold"],
                "0% p": ["100% pure_gold"],
                "e_g": ["100% pure_gold"],
                "p_r": [],
                "S%E": [],
            }


def test_migration_6_stores_links_without_secrets_so_they_update_in_place(postgres_url):
    with Store(postgres_url) as pg:
        pg.add(bridge("Monday"), "global")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(STORE_SECRET_LINK)
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with Store(postgres_url) as pg:
        migrated, again = links_after_upgrade(pg)
    assert migrated == [(BRIDGE_URL, "x.test")]
    assert (again.status, again.article.url) == ("updated", BRIDGE_URL)


def passage_ids_of(postgres_url: str, title: str) -> list[int]:
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE a.title = %s ORDER BY p.id",
            (title,),
        ).fetchall()
    return [passage_id for (passage_id,) in rows]


def test_migration_8_lets_chinese_and_hindi_questions_find_passages_stored_before(postgres_url, monkeypatch):
    stored_by_the_old_tokenizer(monkeypatch, postgres_url, postgres_migrations)
    english = passage_ids_of(postgres_url, EN_WEAPONS.title)
    with Store(postgres_url) as store:
        assert [h.article.title for h in store.search("武器", ["global"]).hits] == [ZH_WEAPONS.title]
        assert [h.article.title for h in store.search("हिन्दी", ["global"]).hits] == [HI_DAY.title]
    assert passage_ids_of(postgres_url, EN_WEAPONS.title) == english, "English passages are left alone"


def test_a_process_that_loaded_the_old_terms_follows_migration_8_through_the_change_log(
    postgres_url, monkeypatch
):
    stored_by_the_old_tokenizer(monkeypatch, postgres_url, postgres_migrations)
    with monkeypatch.context() as patch:  # a process started before the upgrade, at schema 7
        patch.setattr(postgres_migrations, "MIGRATIONS", postgres_migrations.MIGRATIONS[:-1])
        patch.setattr(postgres_migrations, "SCHEMA_VERSION", 7)
        older = Store(postgres_url)
    with older:
        older.ensure_loaded(["global"])
        assert older.search("武器", ["global"]).hits == []
        Store(postgres_url).close()  # the upgraded process migrates the database
        older.refresh()
        assert [h.article.title for h in older.search("武器", ["global"]).hits] == [ZH_WEAPONS.title]


def test_postgresql_gives_vectors_to_a_text_replaced_earlier_in_its_batch_as_sqlite_does(postgres_url):
    from test_vectors import DAM, WordEncoder

    with Store(postgres_url, encoder=WordEncoder()) as store:
        store.add(DAM, "global")
        changed = dataclasses.replace(DAM, text="The dam closed for repairs.")
        copy = dataclasses.replace(DAM, title="Dam (copy)", url="https://y.test/dam")
        results = list(store.add_many([changed, copy], "global"))
        missing = store.count_missing_vectors()
    assert ([r.status for r in results], missing) == (["updated", "added"], 0)
