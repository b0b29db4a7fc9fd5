"""Answering a stream of questions in worker processes (index/workers.py), in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import REPO, SAMPLE

from index import Ask, DatabaseError, NoSearchableWords, SearchWorkers, Store, read_path

QUESTIONS = ["what did Qin say about weapons", "?!", "peace talks", "ukraine", "invisible hand"]


@pytest.fixture
def sample_db(db_path):
    with Store(db_path) as store:
        for article in read_path(str(SAMPLE)):
            store.add(article, "global")
    return db_path


def passages(answer: object) -> object:
    if isinstance(answer, Exception):
        return type(answer).__name__
    return [(h.article.id, h.passage.index) for h in answer.hits]  # type: ignore[attr-defined]


def test_workers_answer_every_question_in_order_as_the_store_does(sample_db):
    with Store(sample_db) as store:
        expected = []
        for question in QUESTIONS:
            try:
                expected.append(passages(store.search(question, ["global"], 3)))
            except NoSearchableWords as exc:
                expected.append(passages(exc))
    with SearchWorkers(str(sample_db), 2) as workers:
        got = [passages(a) for a in workers.answers(Ask(q, ["global"], 3) for q in QUESTIONS * 3)]
    assert got == expected * 3


def test_workers_with_the_callers_store_answer_in_order_too(sample_db):
    with Store(sample_db) as store:

        def asked_with_a_pause() -> Iterator[Ask]:
            for n, question in enumerate(QUESTIONS * 4):
                if n == len(QUESTIONS):
                    time.sleep(1.5)  # the worker opens the database meanwhile, and takes turns after
                yield Ask(question, ["global"], 3)

        with SearchWorkers(str(sample_db), 1, local=store) as workers:
            got = [passages(a) for a in workers.answers(asked_with_a_pause())]
        with SearchWorkers(str(sample_db), 1) as workers:
            want = [passages(a) for a in workers.answers(Ask(q, ["global"], 3) for q in QUESTIONS * 4)]
    assert got == want


def test_a_worker_that_cannot_open_the_database_raises_the_stores_own_error(tmp_path):
    missing = tmp_path / "no-such-folder" / "c.db"
    with pytest.raises(DatabaseError) as raised, SearchWorkers(str(missing), 1):
        pass
    assert (
        str(raised.value) == f"The folder {missing.parent} does not exist; create it or choose another --db."
    )


def test_a_worker_whose_parent_left_before_it_could_report_exits_quietly(tmp_path):
    missing = tmp_path / "no-such-folder" / "c.db"
    script = (
        "from index import start_worker\n"
        f"process, conn = start_worker({str(missing)!r}, False)\n"
        "conn.close()  # the parent goes away before the worker says it could not open the database\n"
        "process.join(60)\n"
        "print(process.exitcode)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.stdout, done.stderr) == ("0\n", "")


def test_a_stopped_worker_is_killed_when_the_workers_close(sample_db):
    workers = SearchWorkers(str(sample_db), 1, stop_grace=0.2)
    with workers:
        process = workers._workers[0][0]
        assert process.pid is not None
        os.kill(process.pid, signal.SIGSTOP)  # it can neither see the pipe close nor take SIGTERM
    try:
        assert (process.is_alive(), process.exitcode) == (False, -signal.SIGKILL)
    finally:
        if process.exitcode is None:  # no stopped process outlives the test, whatever happened
            os.kill(process.pid, signal.SIGKILL)
