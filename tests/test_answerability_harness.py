"""benchmarks/answerability.py runs end to end on a tiny synthetic data folder."""

from __future__ import annotations

import json

import pytest
from conftest import RERANK_EXTRA, benchmark_module
from test_quality_harness import data  # noqa: F401  (the tiny evaluation folder)


@pytest.fixture(scope="module")
def quality():
    yield from benchmark_module("quality")


@pytest.fixture(scope="module")
def answerability(quality):
    yield from benchmark_module("answerability")


def _ran(answerability, folder, tmp_path, *flags):
    """The records of the harness run on the tiny data folder with these flags."""
    sample = tmp_path / "sample.txt"
    sample.write_text("Bridge news\n\nThe old bridge will cost a fortune to repair, the council said.\n")
    out = tmp_path / "records.json"
    assert (
        answerability.main(["--data", str(folder), "--sample", str(sample), "--out", str(out), *flags]) == 0
    )
    return json.loads(out.read_text())["records"]


def test_harness_asks_every_kind_and_prints_the_table(answerability, data, tmp_path, capsys):  # noqa: F811
    records = _ran(answerability, data, tmp_path)
    printed = capsys.readouterr().out
    kinds = {r["kind"] for r in records}
    assert kinds == {
        "own week",
        "next week",
        "half a year away",
        "xquad",
        "general",
        "seeds alone",
        "seeds among 150",
    }
    own = [
        r
        for r in records
        if r["kind"] == "own week" and r["question"] == "How much did the bridge repairs cost?"
    ]
    assert own[0]["rank"] == 1
    assert "| abstain, general (" in printed
    assert "Decision cost per question" in printed


def test_other_weeks_questions_whose_answer_the_library_holds_are_left_out(answerability):
    texts = [answerability.quality.normalize("The chess final ended in a draw in July.")]
    assert answerability.holds_answer(texts, ["July"])
    assert not answerability.holds_answer(texts, ["40 tonnes"])


def test_half_a_year_away_is_the_nearest_week_to_182_days(answerability):
    weeks = ["20220107", "20220114", "20220701", "20220708", "20230106"]
    assert answerability.week_far("20220107", weeks, 182) == "20220708"
    assert answerability.week_far("20230106", weeks, 182) == "20220708"


def test_recorded_candidates_come_back_as_candidates(answerability):
    found = answerability.Candidates(scores=(3.0, 1.0), articles=("a", "b"), title="Storm")
    saved = json.loads(json.dumps(answerability._serialisable(("q", [], {}, {}, 9, 3.0, ["x"], found))))
    assert answerability._inputs(saved)[7] == found


def test_rarest_words_keeps_the_terms_fewest_passages_hold_in_question_order(answerability):
    inputs = (
        "q",
        ["what", "did", "qin", "say", "weapons"],
        {},
        {"what": 90, "did": 80, "qin": 1, "say": 30, "weapons": 5},
        99,
    )
    assert answerability.rarest_words(inputs, 3) == "qin say weapons"
    assert answerability.rarest_words(inputs, 2) == "qin weapons"


def test_short_forms_ask_each_own_week_question_as_its_rarest_words(answerability, data, tmp_path, capsys):  # noqa: F811
    records = _ran(answerability, data, tmp_path, "--short-forms")
    own = [r for r in records if r["kind"] == "own week"]
    printed = capsys.readouterr().out
    for count, kind in answerability.SHORT_FORMS.items():
        short = [r for r in records if r["kind"] == kind]
        assert len(short) == len(own)
        assert all(len(r["question"].split()) <= count for r in short)
        assert any(r["rank"] is not None and r["half"] == "second" for r in short)
        assert f"| kept, as its {kind.removeprefix('own week, ')} |" in printed


def test_r3_of_the_questions_answered_leaves_out_the_questions_held_back(answerability):
    def own(rank):
        return answerability.Record("own week", "w", "second", "q", rank, 1.0, False, True, [], 0.0, 0.0)

    records = [own(1), own(3), own(None), own(None)]
    decided = answerability.np.array([True, True, True, False])
    cells = answerability.cells(records, decided)
    assert (cells["answered R@1 / R@3"], cells["R@1 / R@3 of the questions answered"]) == (
        "0.250 / 0.500",
        "0.333 / 0.667",
    )


def _asked(answerability, kind, group, question, rank=None):
    return answerability.Record(kind, group, "second", question, rank, 1.0, False, True, [], 0.0, 0.0)


def test_intervals_count_general_questions_by_question_and_other_kinds_by_library(answerability):
    records = [
        _asked(answerability, "general", "w1", "what is a prime number"),
        _asked(answerability, "general", "w2", "what is a prime number"),
        _asked(answerability, "general", "w2", "hello there"),
        *(_asked(answerability, "next week", week, f"question {week}") for week in ("w1", "w2", "w3")),
    ]
    decided = answerability.np.array([False, True, False, False, False, True])
    rng = answerability.np.random.default_rng(0)
    assert answerability.interval(records, decided, "general", rng)[3] == 2
    assert answerability.interval(records, decided, "next week", rng)[3] == 3


def test_interval_of_a_share_every_cluster_agrees_on_is_that_share_alone(answerability):
    records = [_asked(answerability, "own week", week, "q", rank=1) for week in ("w1", "w1", "w2")]
    decided = answerability.np.array([True, True, True])
    rng = answerability.np.random.default_rng(0)
    assert answerability.interval(records, decided, "kept", rng) == (1.0, 1.0, 1.0, 2)


def test_intervals_table_shows_each_goal_with_its_interval(answerability):
    records = [
        _asked(answerability, "own week", "w1", "q", rank=1),
        _asked(answerability, "own week", "w2", "q", rank=1),
        _asked(answerability, "general", "w1", "hello"),
    ]
    decided = answerability.np.array([True, False, False])
    printed = answerability.intervals(records, [("shipped model", decided)])
    assert "| kept | 2 | 0.97 | 0.500 (0.000-1.000) |" in printed
    assert "| abstain, general | 1 | 0.95 | 1.000 (1.000-1.000) |" in printed


def test_learned_asks_with_the_learned_stage_on(answerability, data, tmp_path, capsys):  # noqa: F811
    pytest.importorskip("onnxruntime", reason=RERANK_EXTRA)
    records = _ran(answerability, data, tmp_path, "--learned")
    searched = [r for r in records if r["inputs"]]
    assert all(-1.0 <= r["inputs"][7]["cosine"] <= 1.0 for r in searched)
    assert "| shipped, with the learned cosine |" in capsys.readouterr().out
