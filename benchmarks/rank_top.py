"""Ranking alone: BM25's top 40 of whole questions, as `Store.search` asks the engine for them.

    python benchmarks/rank_top.py --db LIBRARY.db                          # this checkout
    python benchmarks/rank_top.py --db LIBRARY.db --base ../base --rounds 3  # beside another one

Each checkout runs in a fresh process on the same library: it reads the question's term ids as
`Store.search` does, warms up on 30 questions, then times `SearchIndex.top(["global"], ids, 40)`
for every question, `--rounds` times. A question's time is its least over the rounds (other programs
on the machine count less). Prints p50 / p95 / mean ms per checkout, whether both returned the same
passages and scores (bit for bit) for every question, and for how many questions their match counts
differ (`total_hits`: exact when every posting was read, otherwise a lower bound that reading more
postings raises).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed import DEFAULT_QUESTIONS, make_queries, pct  # noqa: E402

DEPTH = 40
"""The default ranker's candidates (index.rank.CANDIDATES)."""


def worker(repo: Path, db: Path, queries: Path, rounds: int) -> dict:
    sys.path.insert(0, str(repo))
    from index.ingest.text import question_terms
    from index.store import Store

    store = Store(str(db))
    store.ensure_loaded(["global"])
    questions = json.loads(queries.read_text())["questions"]
    calls = [store.db.known_term_ids(question_terms(q)) for q in questions]
    index = store.index
    for ids in calls[:30]:
        index.top(["global"], ids, DEPTH)
    best = [float("inf")] * len(calls)
    digest = hashlib.sha256()
    counts = []
    for round_ in range(rounds):
        for k, ids in enumerate(calls):
            started = time.perf_counter()
            pids, scores, matched = index.top(["global"], ids, DEPTH)
            best[k] = min(best[k], (time.perf_counter() - started) * 1000)
            if round_ == 0:
                digest.update(pids.tobytes() + scores.tobytes())
                counts.append(matched)
    store.close_without_saving()
    return {"times": best, "digest": digest.hexdigest(), "counts": counts}


def run(repo: Path, db: Path, queries: Path, rounds: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--repo", str(repo)]
    command += ["--db", str(db), "--queries", str(queries), "--rounds", str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument(
        "--base", type=Path, help="another checkout to run on the same library (the baseline)"
    )
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--count", type=int, default=200, help="questions")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.repo, args.db, args.queries, args.rounds)))
        return
    if not args.db.exists():
        sys.exit(f"{args.db} does not exist: build a library first (benchmarks/speed.py --work DIR).")
    queries = args.db.with_name(args.db.name + ".rank-queries.json")
    made = make_queries(args.questions, count=args.count)
    queries.write_text(json.dumps({"questions": made["questions"]}))
    checkouts = {"this": HERE.parent}
    if args.base:
        checkouts = {"base": args.base.resolve(), **checkouts}
    results = {name: run(repo, args.db, queries, args.rounds) for name, repo in checkouts.items()}
    queries.unlink()
    print(f"top {DEPTH} of {args.count} whole questions, least of {args.rounds} rounds each, ms:")
    print("| checkout | p50 | p95 | mean |")
    print("|---|---|---|---|")
    for name, result in results.items():
        times = result["times"]
        print(f"| {name} | {pct(times, 50):.2f} | {pct(times, 95):.2f} | {statistics.mean(times):.2f} |")
    if len(results) == 2:
        same = len({r["digest"] for r in results.values()}) == 1
        print("same passages and scores:", "yes" if same else "NO")
        base, this = (r["counts"] for r in results.values())
        differ = sum(a != b for a, b in zip(base, this, strict=True))
        # A match count is exact only when every posting was read; otherwise a lower bound (at least
        # the largest document frequency of a question term), which reading more postings raises.
        print(
            f"match counts (total_hits, a lower bound when postings were skipped): {differ} of {len(base)} differ"
        )


if __name__ == "__main__":
    main()
