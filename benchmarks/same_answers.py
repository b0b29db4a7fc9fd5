"""Whether two runs of benchmarks/quality.py gave the same answers, question by question.

    python benchmarks/same_answers.py BEFORE.json AFTER.json [--system Clippings]

Compares the passages shown (the top 3, title and text, in order) for every question both runs
asked, and lists the questions whose answers differ. Exit 0 when none does, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def shown(path: Path, system: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    records = json.loads(path.read_text(encoding="utf-8"))["questions"]
    return {
        (r["split"], r["id"]): [(p["title"], p["passage"]) for p in r["systems"][system]["top3"]]
        for r in records
        if system in r["systems"]
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--system", default="Clippings", help="the row of quality.py to compare")
    args = parser.parse_args()
    before, after = shown(args.before, args.system), shown(args.after, args.system)
    both = before.keys() & after.keys()
    first = [key for key in sorted(both) if before[key][:1] != after[key][:1]]
    top3 = [key for key in sorted(both) if before[key] != after[key]]
    print(
        f"{args.system}: {len(both)} questions in both runs ({len(before)} before, {len(after)} after);"
        f" first answer differs for {len(first)}, top 3 differ for {len(top3)}"
    )
    for split, qid in top3[:20]:
        print(f"  {split} {qid}")
    return 0 if not top3 and len(both) == len(before) == len(after) else 1


if __name__ == "__main__":
    sys.exit(main())
