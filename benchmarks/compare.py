"""Two checkouts back to back: one answer's stages (speed.py's breakdown), alternating rounds.

    git worktree add --detach ../base <commit>
    python benchmarks/compare.py --base ../base --base-db OLD.db --db NEW.db --rounds 4

Each round runs `speed.py --worker clippings-stages` once in the base checkout (on --base-db) and
once in this one (on --db), in fresh processes, one after the other, so both see the same load.
The two databases hold the same articles (a newer schema migrates a copy of the older one). Prints
p50 / p95 of each stage over every round's questions, base beside this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed import DEFAULT_QUESTIONS, STAGES, make_queries, pct  # noqa: E402


def run(repo: Path, db: Path, queries: Path, count: int, work: Path) -> dict[str, list[float]]:
    params = json.dumps({"db": str(db), "queries": str(queries), "count": count})
    command = [sys.executable, "benchmarks/speed.py", "--worker", "clippings-stages", "--work", str(work)]
    done = subprocess.run(
        [*command, "--params", params], cwd=repo, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["times"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (the baseline)")
    parser.add_argument("--base-db", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=100, help="questions per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        queries = work / "queries.json"
        queries.write_text(json.dumps(make_queries(args.questions)))
        times: dict[str, dict[str, list[float]]] = {"base": {}, "this": {}}
        for r in range(args.rounds):
            for name, repo, db in (("base", args.base, args.base_db), ("this", HERE.parent, args.db)):
                got = run(repo.resolve(), db.resolve(), queries, args.count, work)
                for stage, values in got.items():
                    times[name].setdefault(stage, []).extend(values)
            print(
                f"round {r + 1} of {args.rounds} done (load average {os.getloadavg()[0]:.1f})",
                file=sys.stderr,
            )
    print(f"{len(times['this'].get('total', []))} answers each; load average at the end {os.getloadavg()}")
    print("| stage | base p50 / p95 ms | this p50 / p95 ms |")
    print("|---|---|---|")
    for stage in STAGES:
        cells = []
        for name in ("base", "this"):
            values = times[name].get(stage, [])
            cells.append(f"{pct(values, 50):.2f} / {pct(values, 95):.2f}" if values else "–")
        print(f"| {stage} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
