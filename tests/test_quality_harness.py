"""benchmarks/quality.py runs end to end on a tiny synthetic data folder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import benchmark_module

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quality():
    yield from benchmark_module("quality")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "eval"
    articles = [
        {
            "id": "a1",
            "title": "Harbour bridge",
            "url": "https://example.org/a1",
            "date": "2022-06-01",
            "text": "The harbour bridge reopened on Monday. The mayor said the repairs cost 12 million dollars.",
            "weeks": ["20220603"],
        },
        {
            "id": "a2",
            "title": "Orchard festival",
            "url": "https://example.org/a2",
            "date": "2022-06-02",
            "text": "The orchard festival drew a record crowd. Visitors picked 40 tonnes of cherries.",
            "weeks": ["20220603", "20220610"],
        },
        {
            "id": "a3",
            "title": "Chess final",
            "url": "https://example.org/a3",
            "date": "2022-06-08",
            "text": "The chess final ended in a draw. Both players agreed to a rematch in July.",
            "weeks": ["20220610"],
        },
    ]
    articles += [
        {
            "id": f"f{i}",
            "title": f"Filler {i}",
            "text": f"Filler story number {i} about nothing.",
            "weeks": ["20220603", "20220610"] if i < 5 else [],
        }
        for i in range(150)
    ]
    (root / "realtimeqa").mkdir(parents=True)
    with gzip.open(root / "realtimeqa" / "articles.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(a) + "\n" for a in articles)
    dev = [
        {
            "id": "q1",
            "question": "How much did the bridge repairs cost?",
            "answers": ["12 million"],
            "week": "20220603",
        },
        {
            "id": "q2",
            "question": "How many tonnes of cherries were picked?",
            "answers": ["40 tonnes"],
            "week": "20220610",
        },
        {"id": "q3", "question": "When is the chess rematch?", "answers": ["July"], "week": "20220610"},
    ]
    write_jsonl(root / "realtimeqa" / "questions_dev.jsonl", dev)
    write_jsonl(root / "realtimeqa" / "questions_strict_dev.jsonl", dev[:1])
    write_jsonl(
        root / "xquad_en" / "articles.jsonl",
        [{"id": "x1", "title": "Rivers", "text": "The river Nile flows north into the Mediterranean Sea."}],
    )
    write_jsonl(
        root / "xquad_en" / "questions.jsonl",
        [
            {
                "id": "xq1",
                "article_id": "x1",
                "question": "Where does the Nile flow?",
                "answers": ["Mediterranean"],
            }
        ],
    )
    write_jsonl(
        root / "seed_questions.jsonl", [{"id": "s1", "question": "bridge cost", "answers": ["bridge"]}]
    )
    return root


def test_harness_prints_the_table_and_writes_per_question_results(quality, data, tmp_path, capsys):
    sample = tmp_path / "sample.txt"
    sample.write_text("Bridge news\n\nThe old bridge will cost a fortune to repair, the council said.\n")
    out = tmp_path / "results.json"
    code = quality.main(["--data", str(data), "--sample", str(sample), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "| Clippings | 1.000 / 1.000 / 1.000" in printed
    assert quality.BASELINE in printed
    records = json.loads(out.read_text())["questions"]
    assert [(r["split"], r["question"]) for r in records][:2] == [
        ("dev", "How much did the bridge repairs cost?"),
        ("strict", "How much did the bridge repairs cost?"),
    ]
    assert len(records) == 3 + 1 + 1 + 2
    first = records[0]["systems"]["Clippings"]
    assert (first["hit"], first["rank"]) == (True, 1)
    assert (
        first["top3"][0]["passage"]
        == "The harbour bridge reopened on Monday. The mayor said the repairs cost 12 million dollars."
    )


def test_harness_limit_asks_only_the_first_questions(quality, data, tmp_path, capsys):
    out = tmp_path / "results.json"
    quality.main(["--data", str(data), "--splits", "dev", "--limit", "2", "--no-windows", "--out", str(out)])
    records = json.loads(out.read_text())["questions"]
    assert [r["question"] for r in records] == [
        "How much did the bridge repairs cost?",
        "How many tonnes of cherries were picked?",
    ]


def test_harness_says_when_the_data_is_missing(quality, tmp_path):
    with pytest.raises(SystemExit, match="is missing: pass the evaluation data folder with --data"):
        quality.main(["--data", str(tmp_path / "nowhere"), "--splits", "dev"])


def test_hit_rule_normalises_quotes_case_and_spaces(quality):
    assert (
        quality.first_hit(["No.", "The show \u201cSquid  Game\u201d returns"], ["\u201csquid game\u201d"])
        == 2
    )


def test_harness_prints_the_time_of_the_ranking_stage(quality, data, tmp_path, capsys):
    out = tmp_path / "results.json"
    quality.main(["--data", str(data), "--splits", "dev", "--no-windows", "--out", str(out)])
    timing = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Of which")]
    assert [line.split(":")[0] for line in timing] == ["Of which the ranking stage"]
    assert "Clippings, ranker off" not in timing[0]
