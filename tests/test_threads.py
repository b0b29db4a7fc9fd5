"""Searches and adds from many threads at once: no error, and the same answers as one at a time."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from conftest import SAMPLE

from index import Article, Store, read_path
from index import store as store_module
from index.rank import ArticleCache, Ranker, Stems

QUESTIONS = [
    "what did Qin say about weapons",
    "when did the dam open",
    "who said peace talks should begin",
    "how many ferries were cancelled",
    "what did the minister say about Ukraine",
    "why was the harbour closed",
]

ARTICLES = [
    Article(title="Dam opens", text="The new dam opened on Monday after ten years of work. " * 4),
    Article(title="Ferries", text="Twelve ferries were cancelled when the storm closed the harbour. " * 3),
    Article(
        title="Harbour", text="The harbour was closed because of the storm, the port authority said. " * 3
    ),
]


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so that races show up."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def answers(store: Store, question: str) -> list[tuple[str, str]]:
    return [(h.article.title, h.passage.text) for h in store.search(question, ["global"], k=3).hits]


def test_parallel_questions_and_adds_give_the_answers_of_one_at_a_time(tmp_path, busy_switching, monkeypatch):
    # A tiny article cache, stem cache and term id cache, so that threads evict each other's entries
    # all the time.
    monkeypatch.setattr(store_module, "TERM_ID_CACHE", 3)
    ranker = Ranker(articles=ArticleCache(limit=2, chars=400))
    ranker._stems = {True: Stems(irregular=True, limit=5), False: Stems(irregular=False, limit=5)}
    with Store(tmp_path / "c.db", ranker=ranker) as store:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
        for article in ARTICLES:
            store.add(article, "global")
        expected = {q: answers(store, q) for q in QUESTIONS}
        errors: list[BaseException] = []
        found: list[tuple[str, list[tuple[str, str]]]] = []

        def ask(offset: int) -> None:
            try:
                for n in range(12):
                    question = QUESTIONS[(offset + n) % len(QUESTIONS)]
                    found.append((question, answers(store, question)))
            except BaseException as exc:
                errors.append(exc)

        def add() -> None:
            try:
                for n in range(10):  # another library: the asked library's statistics stay as they were
                    store.add(
                        Article(title=f"Other {n}", text=f"Report number {n} on the dam and harbour."),
                        "other",
                    )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)] + [threading.Thread(target=add)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(found) == 8 * 12
    assert [q for q, got in found if got != expected[q]] == []


def test_stems_agree_with_one_thread_when_shared(busy_switching):
    words = [f"running{i}" for i in range(50)] + ["said", "won", "floods", "flooding"]
    alone = Stems(irregular=True).stem_all(set(words))
    shared = Stems(irregular=True, limit=7)
    results: list[dict[str, str]] = []

    def stem() -> None:
        for _ in range(20):
            results.append(shared.stem_all(set(words)))

    threads = [threading.Thread(target=stem) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 120
    assert all(r == alone for r in results)
    assert (alone["said"], alone["floods"]) == ("say", "flood")


def test_parallel_questions_decide_answerable_as_one_at_a_time(tmp_path, busy_switching):
    questions = [*QUESTIONS, "what is the capital of Australia", "hello", "who painted the Mona Lisa"]
    with Store(tmp_path / "a.db") as store:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
        for article in ARTICLES:
            store.add(article, "global")
        store.answerability.stems = Stems(limit=5)  # threads evict each other's stems all the time
        expected = {q: store.search(q, ["global"]).answerable for q in questions}
        found: list[tuple[str, bool]] = []
        errors: list[BaseException] = []

        def ask(offset: int) -> None:
            try:
                for n in range(10):
                    q = questions[(offset + n) % len(questions)]
                    found.append((q, store.search(q, ["global"]).answerable))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert [(q, a) for q, a in found if expected[q] != a] == []
    assert len(found) == 60
