"""The CLI answering a batch: `clippings ask --json -k 3 -` over N dev questions, mean per answer.

    python benchmarks/cli_batch.py --db LIBRARY.db [--base ../base --base-db OLD.db] [--rounds 3] [--jobs 1]

Each round runs the batch once in this checkout (and once in --base, back to back, when given),
each in a fresh process; the first round warms the page cache and is not counted. Prints the mean
wall time per answer (start, open and every answer included, divided by N) per round and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_QUESTIONS = HERE.parent.parent / "shared" / "eval" / "realtimeqa" / "questions_dev.jsonl"


def batch(repo: Path, db: Path, questions: str, extra: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "index", "--db", str(db), "ask", "--json", "-k", "3", *extra, "-"],
        cwd=repo,
        input=questions,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    if len(done.stdout.splitlines()) != questions.count("\n"):
        raise SystemExit(f"{repo}: expected one answer per question; stderr: {done.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--base", type=Path, help="another checkout to run back to back (the baseline)")
    parser.add_argument("--base-db", type=Path)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds, after one warm-up")
    parser.add_argument(
        "--jobs",
        default="",
        help="comma-separated `ask --jobs` values to run this checkout with too (each a row of its own)",
    )
    args = parser.parse_args()
    lines = [
        json.loads(line)["question"].replace("\n", " ") for line in args.questions.open(encoding="utf-8")
    ]
    questions = "".join(f"{q}\n" for q in lines[: args.count])
    runs: list[tuple[str, Path, Path, list[str]]] = [("this", HERE.parent, args.db, [])]
    runs += [(f"this, --jobs {j}", HERE.parent, args.db, ["--jobs", j]) for j in args.jobs.split(",") if j]
    if args.base:
        runs.insert(0, ("base", args.base.resolve(), (args.base_db or args.db).resolve(), []))
    means: dict[str, list[float]] = {name: [] for name, _, _, _ in runs}
    for r in range(args.rounds + 1):
        for name, repo, db, extra in runs:
            seconds = batch(repo, db.resolve(), questions, extra)
            if r:
                means[name].append(seconds * 1000 / args.count)
    print(
        f"{args.count} questions a batch, {args.rounds} rounds after a warm-up; load average {os.getloadavg()}"
    )
    for name, values in means.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name}: {statistics.median(values):.1f} ms an answer (median of rounds: {rounds})")


if __name__ == "__main__":
    main()
