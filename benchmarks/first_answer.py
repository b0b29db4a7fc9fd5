"""The first and second answer after a bulk add, each in a new `clippings ask` process.

    python benchmarks/first_answer.py --articles ../shared/eval/realtimeqa/articles.jsonl.gz
    python benchmarks/first_answer.py --baseline /path/to/an/older/checkout   # both, in one run

`clippings add` imports --count articles from the corpus (JSON Lines) into a new database; then
`clippings ask` runs twice, each a new process, as a person or a restarted bot would. The time of
each process is measured from outside (start to exit). With --baseline, the same steps run with
that checkout's code too, alternating, so both are measured on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ARTICLES = REPO.parent / "shared" / "eval" / "realtimeqa" / "articles.jsonl.gz"
QUESTION = "what did the president say about inflation"


def timed(checkout: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "index", *args], cwd=checkout, check=True, capture_output=True)
    return time.perf_counter() - started


def one_run(checkout: Path, corpus: Path, folder: Path) -> tuple[float, float, float]:
    db = folder / "bulk.db"
    add = timed(checkout, "--db", str(db), "add", str(corpus))
    first = timed(checkout, "--db", str(db), "ask", QUESTION)
    second = timed(checkout, "--db", str(db), "ask", QUESTION)
    return add, first, second


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--count", type=int, default=8000, help="articles to add")
    parser.add_argument("--runs", type=int, default=2, help="runs per checkout")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    if not args.articles.exists():
        sys.exit(f"{args.articles} is missing: pass --articles (the eval data lives in ../shared/eval).")
    checkouts = {"this checkout": REPO}
    if args.baseline:
        checkouts = {"baseline": args.baseline.resolve(), **checkouts}
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "articles.jsonl"
        with gzip.open(args.articles, "rt", encoding="utf-8") as lines, corpus.open("w") as out:
            for n, line in enumerate(lines):
                if n >= args.count:
                    break
                out.write(line)
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in checkouts}
        for run in range(args.runs):
            for name, checkout in checkouts.items():
                folder = Path(scratch) / f"{name.replace(' ', '-')}-{run}"
                folder.mkdir()
                figures[name].append(one_run(checkout, corpus, folder))
    print(f"{args.count} articles added, then two `ask` processes; median of {args.runs} runs (seconds)")
    print("| code | add | first ask | second ask |")
    print("|---|---|---|---|")
    for name, runs in figures.items():
        add, first, second = (statistics.median(column) for column in zip(*runs, strict=True))
        print(f"| {name} | {add:.1f} | {first:.2f} | {second:.2f} |")


if __name__ == "__main__":
    main()
