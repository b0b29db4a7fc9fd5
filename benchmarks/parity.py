"""PostgreSQL beside SQLite on the dev protocol: the same top 10 for every question, scores within 1e-9.

    python benchmarks/parity.py                       # every dev question (../shared/eval)
    python benchmarks/parity.py --limit 100           # the first 100 dev questions
    python benchmarks/parity.py --postgres postgresql://127.0.0.1:5432/postgres

Each dev week's library (every article whose `weeks` holds the week, as in benchmarks/quality.py)
is added through `Store.add_many` to a SQLite file and to a PostgreSQL database made for this run
(dropped at its end); every question is then asked of its week's library in both, with plain BM25
(`ranker=None`: the scores compared) and with the default ranker (the order the bot shows). Both
stores answering are opened after the adds: the PostgreSQL one builds each week's index from the
database (the time is shown), the SQLite one reads its index cache. (tests/test_postgres.py
checks stores that followed the changes as they were made.)
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from index.store import Store  # noqa: E402

DEFAULT_ADMIN = "postgresql://127.0.0.1:5432/postgres"


def load_quality():
    spec = importlib.util.spec_from_file_location("quality", REPO / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality"] = module
    spec.loader.exec_module(module)
    return module


class ScratchDatabase:
    """A PostgreSQL database made for one run and dropped at its end."""

    def __init__(self, admin_url: str, prefix: str) -> None:
        self.admin_url = admin_url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = urlsplit(admin_url)._replace(path=f"/{self.name}").geturl()

    def __enter__(self) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        return self.url

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {self.name} WITH (FORCE)")


def answers(store: Store, question: str, library: str) -> list[tuple[str, int, float]]:
    return [(h.article.id, h.passage.index, h.score) for h in store.search(question, [library], k=10).hits]


def compare(left: list[tuple[str, int, float]], right: list[tuple[str, int, float]]) -> tuple[bool, float]:
    same = [r[:2] for r in left] == [r[:2] for r in right]
    diff = max((abs(a[2] - b[2]) for a, b in zip(left, right, strict=False)), default=0.0)
    return same, diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    quality = load_quality()
    parser.add_argument("--data", type=Path, default=quality.DEFAULT_DATA, help="evaluation data folder")
    parser.add_argument("--postgres", default=DEFAULT_ADMIN, help="a server where a database may be created")
    parser.add_argument("--limit", type=int, default=0, help="only the first N dev questions")
    args = parser.parse_args(argv)
    plan_args = argparse.Namespace(data=args.data, splits=["dev"], half=None, limit=args.limit, sample=None)
    jobs, _ = quality.plan(plan_args)
    questions = sum(len(job.questions) for job in jobs)
    articles = sum(len(job.articles) for job in jobs)
    print(f"{len(jobs)} week libraries, {articles} articles added to each backend, {questions} questions")
    with tempfile.TemporaryDirectory() as tmp, ScratchDatabase(args.postgres, "clippings_parity") as url:
        lite_path = Path(tmp) / "parity.db"
        timings = {}
        for name, path in (("SQLite", str(lite_path)), ("PostgreSQL", url)):
            started = time.perf_counter()
            with Store(path, ranker=None) as store:
                for job in jobs:
                    for _ in store.add_many(job.articles, job.group):
                        pass
            timings[name] = time.perf_counter() - started
            print(f"added to {name} in {timings[name]:.1f} s")
        rows = []
        with Store(str(lite_path), ranker=None) as lite, Store(url, ranker=None) as pg:
            started = time.perf_counter()
            for job in jobs:
                pg.ensure_loaded([job.group])
            load_seconds = time.perf_counter() - started
            for job in jobs:
                for q in job.questions:
                    rows.append(
                        (
                            "exact BM25, top 10",
                            *compare(
                                answers(lite, q.question, job.group), answers(pg, q.question, job.group)
                            ),
                        )
                    )
        with Store(str(lite_path)) as lite, Store(url) as pg:
            for job in jobs:
                for q in job.questions:
                    rows.append(
                        (
                            "default ranker, top 10",
                            *compare(
                                answers(lite, q.question, job.group), answers(pg, q.question, job.group)
                            ),
                        )
                    )
        print(f"\nPostgreSQL: every week library built from the database in {load_seconds:.1f} s\n")
        print("| ranking | questions | same top 10 | largest score difference |")
        print("|---|---:|---:|---:|")
        for kind in ("exact BM25, top 10", "default ranker, top 10"):
            mine = [r for r in rows if r[0] == kind]
            same = sum(1 for r in mine if r[1])
            print(f"| {kind} | {len(mine)} | {same} | {max(r[2] for r in mine):.1e} |")
        failed = [r for r in rows if not r[1] or r[2] > 1e-9]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
