from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import numpy as np
import pytest
from hypothesis import settings

from index import AddResult, Article, Store
from index.engine import PassageTerms

REPO = Path(__file__).resolve().parent.parent
RERANK_EXTRA = "needs the rerank extra: pip install '.[test,rerank]'"


def in_ci() -> bool:
    """`.ci/run` sets CI: property tests then run the same examples every time, and no test may skip."""
    return bool(os.environ.get("CI"))


def pytest_configure(config: pytest.Config) -> None:
    # Before the test modules are imported, so the settings they build inherit the profile.
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    if in_ci():
        settings.load_profile("ci")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if in_ci() and skipped:
        terminalreporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; in CI every test must run ({RERANK_EXTRA}).", red=True
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if in_ci() and exitstatus == 0 and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


SAMPLE = REPO / "samples" / "qin-gang-peace-talks.txt"
WEAPONS = "The foreign minister went on to say that China did not provide weapons to Russia"
BRIDGE_URL = "https://x.test/a"
SECRET_LINK = "https://ed:pw@x.test/a#part-2"
"""A link as versions before the link cleaning stored it when given so: with a password and a fragment."""
STORE_SECRET_LINK = f"UPDATE articles SET url = '{SECRET_LINK}', site = 'ed:pw@x.test'"


def bridge(day: str, url: str = BRIDGE_URL) -> Article:
    return Article(title="Bridge", text=f"The river bridge reopens on {day}.", url=url)


def links_after_upgrade(store: Store) -> tuple[list[tuple[str | None, str | None]], AddResult]:
    """(url, site) of the global library's articles after an upgrade, then the result of adding the
    bridge again through its link as given with the password and fragment."""
    stored = [(a.url, a.site) for a in store.list_articles("global")]
    return stored, store.add(bridge("Tuesday", SECRET_LINK), "global")


_OLD_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def old_tokenize(text: str) -> list[str]:
    """The tokenizer of SQLite schema 4 (PostgreSQL 7) and before: a run of Chinese characters was
    one term, and the vowel signs of Hindi split its words."""
    return [re.sub(r"['’]s$", "", w.casefold()).replace("’", "'") for w in _OLD_TOKEN.findall(text)]


ZH_WEAPONS = Article(
    title="秦刚谈出口",
    text="外交部长秦刚周二表示中国从未向冲突任何一方提供致命性武器。",
    url="https://x.test/zh1",
)
ZH_RAIN = Article(
    title="北京天气", text="气象台预报明天北京有大雨请市民出门携带雨具。", url="https://x.test/zh2"
)
HI_DAY = Article(
    title="हिन्दी दिवस",
    text="सरकार ने कहा कि हिन्दी दिवस पर देश भर के विद्यालयों में विशेष कार्यक्रम होंगे।",
    url="https://x.test/hi1",
)
HI_RAIN = Article(
    title="मौसम", text="मौसम विभाग ने अगले सप्ताह भारी वर्षा की चेतावनी दी है।", url="https://x.test/hi2"
)
EN_WEAPONS = Article(title="Weapons", text=f"{WEAPONS}, he said on Tuesday.", url="https://x.test/en")
MULTILINGUAL = [ZH_WEAPONS, ZH_RAIN, HI_DAY, HI_RAIN, EN_WEAPONS]


def stored_by_the_old_tokenizer(
    monkeypatch: pytest.MonkeyPatch, path: str | Path, migrations: ModuleType
) -> None:
    """Store MULTILINGUAL as the Clippings of the schema before the tokenizer's migration (the last
    of `migrations`, SQLite's or PostgreSQL's) stored it: at that schema, with the old terms."""
    import index.store

    before = len(migrations.MIGRATIONS) - 1
    with monkeypatch.context() as patch:
        patch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:before])
        patch.setattr(migrations, "SCHEMA_VERSION", before)
        patch.setattr(index.store, "tokenize", old_tokenize)
        with Store(path) as store:
            for article in MULTILINGUAL:
                store.add(dataclasses.replace(article), "global")


def benchmark_module(name: str) -> Iterator[ModuleType]:
    """Import benchmarks/<name>.py as the module `name` (the scripts are not a package), then forget it."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "clippings.db"


@pytest.fixture
def store(db_path: Path):
    with Store(db_path) as opened:
        yield opened


def passage_batch(docs: list[list[int]], first_id: int) -> PassageTerms:
    """Passages given as lists of term ids, as the engine takes them."""
    terms, tfs, offsets = [], [], [0]
    for doc in docs:
        ids, counts = np.unique(doc, return_counts=True)
        terms.extend(ids.tolist())
        tfs.extend(counts.tolist())
        offsets.append(len(terms))
    return PassageTerms(
        passage_ids=np.arange(first_id, first_id + len(docs), dtype=np.int64),
        lengths=np.array([len(d) for d in docs], dtype=np.int64),
        offsets=np.array(offsets, dtype=np.int64),
        terms=np.array(terms, dtype=np.int64),
        tfs=np.array(tfs, dtype=np.int64),
    )


# -- PostgreSQL (the shared backend): one database per test run, one schema per test ---------------

POSTGRES_ADMIN = os.environ.get("CLIPPINGS_TEST_POSTGRES", "postgresql://127.0.0.1:5432/postgres")
"""A server the tests may create a database on (the machine's own PostgreSQL by default)."""


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database made for this test run, dropped at its end."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(
            f"no PostgreSQL server answers at {POSTGRES_ADMIN} ({str(exc).strip()}); start one, or point"
            " CLIPPINGS_TEST_POSTGRES at a server where these tests may create a database"
        )
    name = f"clippings_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield _with_database(POSTGRES_ADMIN, name)
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A URL whose tables live in a schema of this test's own (search_path), so tests never meet."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in postgres_database else "?"
    return f"{postgres_database}{joiner}options=-csearch_path%3D{schema}"
