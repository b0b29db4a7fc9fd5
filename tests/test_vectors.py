"""Passage vectors of the learned ranker in the store (index/store.py) and their use in ranking."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
from conftest import RERANK_EXTRA, SAMPLE, WEAPONS

from index import Article, Store, read_path, tokenize
from index.rank import (
    DEFAULT,
    LEARNED,
    RESTATEMENTS,
    Candidate,
    Ranker,
    add_similarities,
    article_terms,
    role_nouns,
    scores,
)


class WordEncoder:
    """A small real encoder for the store's own tests: hashed words, unit length. It records
    every call so tests can see what was encoded when."""

    model_name = "test-words"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        vectors = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in tokenize(text):
                vectors[i, zlib.crc32(word.encode()) % 64] += 1.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


DAM = Article(
    title="Dam",
    text="The river dam opened on Monday. " * 20 + "Crowds cheered the engineers.",
    url="https://x.test/dam",
)


def vector_rows(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM passage_vectors").fetchone()[0]


def test_adding_with_an_encoder_stores_one_vector_per_passage(tmp_path):
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        stored = store.add(DAM, "global").article
    assert (stored.passage_count > 1, vector_rows(tmp_path / "c.db")) == (True, stored.passage_count)


def test_removing_an_article_removes_its_vectors(tmp_path):
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        stored = store.add(DAM, "global").article
        store.remove("global", stored.id)
    assert vector_rows(tmp_path / "c.db") == 0


def test_updating_an_article_replaces_its_vectors(tmp_path):
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        store.add(DAM, "global")
        updated = store.add(
            Article(title="Dam", text="The dam closed for repairs.", url="https://x.test/dam"), "global"
        )
    assert (updated.status, vector_rows(tmp_path / "c.db")) == ("updated", 1)


def test_without_an_encoder_no_vectors_are_made(tmp_path):
    with Store(tmp_path / "c.db") as store:
        store.add(DAM, "global")
        store.search("when did the dam open", ["global"])
    assert vector_rows(tmp_path / "c.db") == 0


def test_a_passage_stored_before_the_encoder_gets_its_vector_on_first_use_and_keeps_it(tmp_path):
    with Store(tmp_path / "c.db") as store:
        store.add(DAM, "global")
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.search("when did the dam open", ["global"])
        first = [len(call) for call in encoder.calls]
        encoder.calls.clear()
        store.search("when did the dam open", ["global"])
        again = encoder.calls
    # Asked again, nothing is encoded: the passages' vectors are stored, the question's kept.
    assert (first, again, vector_rows(tmp_path / "c.db")) == ([2, 1], [], 2)


@contextmanager
def another_writer(path) -> Iterator[None]:
    """Another process's connection in the middle of a write transaction."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


@pytest.fixture
def dam_db(tmp_path):
    """A database holding DAM, its passages without vectors."""
    with Store(tmp_path / "c.db") as store:
        store.add(DAM, "global")
    return tmp_path / "c.db"


def test_a_question_does_not_wait_for_another_writer_to_save_vectors(dam_db, caplog):
    with Store(dam_db, encoder=WordEncoder()) as store, another_writer(dam_db):
        hits = store.search("when did the dam open", ["global"]).hits
    assert (len(hits), vector_rows(dam_db), "kept in memory" in caplog.text) == (2, 0, True)


def test_a_vector_that_could_not_be_saved_is_not_made_again(dam_db):
    encoder = WordEncoder()
    with Store(dam_db, encoder=encoder) as store, another_writer(dam_db):
        store.search("when did the dam open", ["global"])
        encoder.calls.clear()
        store.search("when did the dam open", ["global"])
    assert encoder.calls == []  # neither the passages' vectors nor the question's


def test_vectors_kept_in_memory_are_saved_once_the_file_is_free(dam_db):
    encoder = WordEncoder()
    with Store(dam_db, encoder=encoder) as store:
        with another_writer(dam_db):
            store.search("when did the dam open", ["global"])
        encoder.calls.clear()
        store.search("when did the dam open", ["global"])
        saved = (encoder.calls, vector_rows(dam_db))
    assert saved == ([], 2)


def test_passage_vectors_come_back_in_the_order_asked(tmp_path):
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        stored = store.add(DAM, "global").article
        passages = store.passages("global", stored.id)
        vectors = store.passage_vectors(list(reversed(passages)))
    expected = encoder.encode([p.text for p in reversed(passages)])
    assert np.allclose(vectors, expected, atol=1e-3)


def test_embed_missing_gives_every_stored_passage_its_vector(tmp_path):
    with Store(tmp_path / "c.db") as store:
        passages = store.add(DAM, "global").article.passage_count
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        before = store.count_missing_vectors()
        batches = list(store.embed_missing(batch=1))
        after = store.count_missing_vectors()
    assert (before, batches, after, vector_rows(tmp_path / "c.db")) == (passages, [1] * passages, 0, passages)


def test_embed_missing_reads_each_batch_after_the_last_passage_of_the_one_before(tmp_path):
    # Reading from the first passage every time, each batch walked past every passage embedded so
    # far: quadratic over a whole corpus (0.3-0.6 s a batch of 64 at 580,000 passages).
    with Store(tmp_path / "c.db") as store:
        store.add(DAM, "global")
        store.add(replace(DAM, text="The canal opened in May. " * 20, url="https://x.test/canal"), "global")
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        read = store.db.passages_missing_vectors
        asked: list[int] = []
        given: list[list[int]] = []

        def recorded(model: str, library: str | None, limit: int, after: int = 0) -> list[tuple[int, str]]:
            asked.append(after)
            rows = read(model, library, limit, after=after)
            given.append([pid for pid, _ in rows])
            return rows

        store.db.passages_missing_vectors = recorded  # type: ignore[method-assign]
        list(store.embed_missing(batch=1))
    assert asked == [0] + [ids[-1] for ids in given[:-1]]


def test_embed_missing_of_one_library_leaves_the_others(tmp_path):
    with Store(tmp_path / "c.db") as store:
        store.add(DAM, "one")
        store.add(DAM, "two")
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        done = sum(store.embed_missing("one"))
        assert (done, store.count_missing_vectors("one"), store.count_missing_vectors("two")) == (2, 0, 2)


NO_ROLES = article_terms("", "")


def test_the_learned_weights_put_the_similar_passage_first_on_equal_words():
    candidates = [
        Candidate("The dam opened on the river.", 2.0, 0, NO_ROLES, similarity=0.1),
        Candidate("The dam opened by the river.", 2.0, 0, NO_ROLES, similarity=0.6),
    ]
    idf = {"dam": 1.0, "opened": 1.0}
    learned = scores("dam opened", ["dam", "opened"], idf, candidates, LEARNED)
    lexical = scores("dam opened", ["dam", "opened"], idf, candidates, DEFAULT)
    assert (learned[1] > learned[0], lexical[1] == lexical[0]) == (True, True)


def test_the_real_encoder_ranks_the_qin_weapons_passage_first(tmp_path):
    pytest.importorskip("onnxruntime", reason=RERANK_EXTRA)
    from index.rank.semantic import load_encoder

    with Store(tmp_path / "c.db", encoder=load_encoder()) as store:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
        first = store.search("what did Qin say about weapons", ["global"]).hits[0]
    assert first.passage.text.startswith(WEAPONS)


QIN = Article(
    title="Talks",
    text="Qin Gang, China's foreign minister, spoke on Tuesday. "
    + "Talks went on for hours in the hall. " * 12
    + "\n\nThe foreign minister said China did not provide weapons to Russia.",
)
RAIN = Article(title="Rain", text="The weather service said rain would fall on the weapons depot.")


def test_the_learned_stage_also_asks_the_question_in_the_words_of_a_role_noun_passage(tmp_path):
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(QIN, "global")
        store.add(RAIN, "global")
        store.search("what did Qin say about weapons", ["global"])
    assert encoder.calls[-1] == [
        "what did Qin say about weapons",
        "what did the foreign minister say about weapons",
    ]


def test_a_role_noun_passage_gets_the_cosine_of_the_restated_question(tmp_path):
    question = "what did Qin say about weapons"
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        store.add(QIN, "global")
        store.add(RAIN, "global")
        hits = store.search(question, ["global"]).hits
        terms, _, candidates = Ranker().prepare(store, question, ["global"], hits)
        add_similarities(store, question, hits, terms, candidates)
        values = [c.similarity for c in candidates]
        vectors = store.passage_vectors([h.passage for h in hits])
        plain, restated = store.encode_questions(
            [question, "what did the foreign minister say about weapons"]
        )
    expected = [
        float(v @ restated) if "foreign minister said" in h.passage.text else float(v @ plain)
        for h, v in zip(hits, vectors, strict=True)
    ]
    assert values == pytest.approx(expected, abs=1e-6)


def test_at_most_RESTATEMENTS_restatements_of_a_question_are_encoded(tmp_path):
    roles = sorted(role_nouns())[: RESTATEMENTS + 2]
    head = " ".join(f"Qin Gang, {a} and {b}, spoke." for a, b in zip(roles[::2], roles[1::2], strict=True))
    filler = "Rain fell on the old town all day long. " * 11
    text = head + "".join(f"\n\n{filler}The {role} said weapons were banned." for role in roles)
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(Article(title="Talks", text=text), "global")
        store.search("what did Qin say about weapons", ["global"])
    assert len(encoder.calls[-1]) == 1 + RESTATEMENTS


class FailingEncoder(WordEncoder):
    """Encodes passages, then fails on every later call (as a broken runtime would)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.broken:
            raise RuntimeError("onnxruntime failed")
        return super().encode(texts)


def test_a_failing_encoder_at_question_time_falls_back_to_the_lexical_order(tmp_path):
    encoder = FailingEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(DAM, "global")
        store.add(Article(title="Dam two", text="The dam opened again in May."), "global")
        encoder.broken = True
        learned = [h.passage.text for h in store.search("when did the dam open", ["global"]).hits]
    with Store(tmp_path / "c.db") as lexical:
        expected = [h.passage.text for h in lexical.search("when did the dam open", ["global"]).hits]
    assert learned == expected


def test_no_vector_is_made_from_text_the_article_no_longer_has(tmp_path):
    with Store(tmp_path / "c.db", ranker=None) as plain:
        plain.add(DAM, "global")
        old = [h.passage for h in plain.search("dam opened", ["global"], k=5).hits]
        plain.add(
            Article(title="Dam", text="The dam closed for repairs.", url="https://x.test/dam"), "global"
        )
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        vectors = store.passage_vectors(old)
        missing = store.count_missing_vectors()
    assert (np.count_nonzero(vectors), missing, vector_rows(tmp_path / "c.db")) == (0, 1, 0)


def test_a_passage_removed_while_its_vector_is_made_gets_none(tmp_path):
    store = Store(tmp_path / "c.db")
    stored = store.add(DAM, "global").article
    passages = store.passages("global", stored.id)

    class RemovingEncoder(WordEncoder):
        def encode(self, texts: list[str]) -> np.ndarray:
            store.remove("global", stored.id)  # another thread removes the article meanwhile
            return super().encode(texts)

    store.encoder = RemovingEncoder()
    try:
        store.passage_vectors(passages)
    finally:
        store.close()
    assert vector_rows(tmp_path / "c.db") == 0


def test_re_adding_an_unchanged_article_encodes_nothing(tmp_path):
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(DAM, "global")
        encoder.calls.clear()
        status = store.add(DAM, "global").status
    assert (status, encoder.calls) == ("unchanged", [])


def test_correcting_an_articles_date_encodes_nothing_and_keeps_its_vectors(tmp_path):
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(replace(DAM, url="https://x.test/dam", published="2024-01-01"), "global")
        encoder.calls.clear()
        result = store.add(replace(DAM, url="https://x.test/dam", published="2024-05-02"), "global")
    assert (result.status, result.article.published, encoder.calls) == ("updated", "2024-05-02", [])
    assert vector_rows(tmp_path / "c.db") == result.article.passage_count


def test_a_text_stored_when_its_batch_was_encoded_but_replaced_earlier_in_that_batch_gets_vectors(tmp_path):
    # The first record updates the Dam article to new text; the second brings Dam's old text under
    # another link. That text was stored when the batch was encoded (so it was not encoded), and is
    # gone by the time the second record is stored, as a new article.
    path = tmp_path / "c.db"
    with Store(path, encoder=WordEncoder()) as store:
        store.add(DAM, "global")
        changed = replace(DAM, text="The dam closed for repairs.")
        copy = replace(DAM, title="Dam (copy)", url="https://y.test/dam")
        results = list(store.add_many([changed, copy], "global"))
        missing = store.count_missing_vectors()
    assert ([r.status for r in results], missing) == (["updated", "added"], 0)


def test_the_answerability_step_reuses_the_question_vector_of_the_learned_stage(tmp_path):
    encoder = WordEncoder()
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(DAM, "global")
        before = len(encoder.calls)
        store.search("when did the dam open", ["global"])
    assert encoder.calls[before:] == [["when did the dam open"]]


def test_a_store_with_an_encoder_gives_the_answerability_step_the_best_cosine(tmp_path):
    seen = []
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        store.add(DAM, "global")
        decide = store.answerability
        store.answerability = lambda *args: seen.append(args[7].cosine) or decide(*args)  # type: ignore[assignment]
        store.search("when did the dam open", ["global"])
    assert 0.0 < seen[0] <= 1.0


def test_the_answerability_step_reads_no_vector_the_learned_stage_read(tmp_path):
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        store.add(DAM, "global")
        store.add(RAIN, "global")
        read = store.db.passage_vector_rows
        calls = []
        store.db.passage_vector_rows = lambda *args: calls.append(args) or read(*args)  # type: ignore[method-assign]
        store.search("when did the dam open", ["global"])
    assert len(calls) == 1


def test_the_answerability_steps_cosine_is_the_stored_vectors_best(tmp_path):
    seen = []
    with Store(tmp_path / "c.db", encoder=WordEncoder()) as store:
        store.add(DAM, "global")
        store.add(RAIN, "global")
        decide = store.answerability
        store.answerability = lambda *args: seen.append(args[7].cosine) or decide(*args)  # type: ignore[assignment]
        shown = store.search("when did the dam open", ["global"]).hits
        vectors = store.passage_vectors([h.passage for h in shown])
        best = float(np.max(vectors @ store.encode_questions(["when did the dam open"])[0]))
    assert seen == [best]


def test_a_failing_encoder_leaves_the_answerability_step_without_a_cosine(tmp_path):
    encoder = FailingEncoder()
    seen = []
    with Store(tmp_path / "c.db", encoder=encoder) as store:
        store.add(DAM, "global")
        encoder.broken = True
        decide = store.answerability
        store.answerability = lambda *args: seen.append(args[7].cosine) or decide(*args)  # type: ignore[assignment]
        store.search("when did the dam open", ["global"])
    assert seen == [None]
