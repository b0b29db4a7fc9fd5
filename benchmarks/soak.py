"""A long-running check of the store under concurrent use and crashes.

For a fixed time (default 10 minutes), two writer processes with four threads each add, remove,
update (re-add under the same URL with new text) and ask, on one database; every 30 seconds one
writer is killed with SIGKILL and started again. Afterwards every answer of the store as it is left
(index cache plus change log) is compared against a fresh rebuild from the database alone, and the
file's integrity is checked.

Printed: operations done by kind, errors (must be 0), answers compared, mismatches (must be 0).

    python benchmarks/soak.py                 # 10 minutes
    python benchmarks/soak.py --minutes 3     # shorter
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index import Article, NotFound, Store  # noqa: E402
from index import store as store_module  # noqa: E402

LIBRARIES = ("global", "second")
VOCABULARY = [f"{a}{b}" for a in ("har", "cou", "sto", "rai", "vot", "bud", "riv", "mus") for b in range(60)]


def make_text(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(6, 14))).capitalize() + "."
        for _ in range(sentences)
    )


def questions(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(VOCABULARY, rng.randint(1, 4))) for _ in range(count)]


# -- a writer process -------------------------------------------------------------------------------


def worker(db: str, number: int, incarnation: int, stats_dir: Path, stop: Path, threads: int) -> None:
    rng_seed = number * 1_000_003 + incarnation
    counts: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    store = Store(db)

    def note(kind: str) -> None:
        with lock:
            counts[kind] += 1

    def loop(thread: int) -> None:
        rng = random.Random(rng_seed * 31 + thread)
        made = 0
        while not stop.exists():
            library = rng.choice(LIBRARIES)
            roll = rng.random()
            try:
                if roll < 0.35:
                    made += 1
                    url = f"https://soak.test/{number}/{incarnation}/{thread}/{made}"
                    store.add(Article(f"Story {made}", make_text(rng, rng.randint(3, 25)), url=url), library)
                    note("add")
                elif roll < 0.5 and made:
                    url = f"https://soak.test/{number}/{incarnation}/{thread}/{rng.randint(1, made)}"
                    store.add(Article(f"Story {made}", make_text(rng, rng.randint(3, 25)), url=url), library)
                    note("update")
                elif roll < 0.65:
                    listed = store.list_articles(library, offset=rng.randint(0, 40), limit=1)
                    if listed:
                        try:
                            store.remove(library, listed[0].id)
                            note("remove")
                        except NotFound:  # another thread or process removed it first
                            note("remove (already gone)")
                else:
                    store.search(" ".join(rng.sample(VOCABULARY, rng.randint(1, 4))), list(LIBRARIES), k=5)
                    note("ask")
            except Exception as exc:  # every other failure is an error of the soak
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    def report() -> None:
        with lock:
            data = {"counts": dict(counts), "errors": errors[:20], "error_count": len(errors)}
        path = stats_dir / f"stats-{number}-{incarnation}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    while any(t.is_alive() for t in pool):
        report()
        time.sleep(0.5)
    for t in pool:
        t.join()
    store.close()
    report()


# -- the run ------------------------------------------------------------------------------------------


def start_worker(args: argparse.Namespace, number: int, incarnation: int, work: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            str(number),
            "--incarnation",
            str(incarnation),
            "--db",
            str(args.db),
            "--work",
            str(work),
            "--threads",
            str(args.threads),
            "--cache-min",
            str(args.cache_min),
        ],
        cwd=REPO,
    )


def answers(store: Store, asked: list[str]) -> list[list[tuple]]:
    return [
        [
            (h.article.id, h.passage.index, h.passage.start, round(h.score, 9))
            for h in store.search(q, list(LIBRARIES), k=5).hits
        ]
        for q in asked
    ]


def integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        orphans = conn.execute(
            "SELECT count(*) FROM passages WHERE article_id NOT IN (SELECT id FROM articles)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} passages without an article")
        empty = conn.execute(
            "SELECT count(*) FROM articles a WHERE passage_count !="
            " (SELECT count(*) FROM passages p WHERE p.article_id = a.id)"
        ).fetchone()[0]
        if empty:
            problems.append(f"{empty} articles whose passages are not all stored")
        return problems
    finally:
        conn.close()


def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="clippings-soak-"))
    args.db = args.db or work / "soak.db"
    store_module.CACHE_MIN_PASSAGES = args.cache_min
    with Store(args.db) as store:  # a start that the cache and the merges have something to do with
        rng = random.Random(args.seed)
        for library in LIBRARIES:
            seed_articles = [
                Article(
                    f"Seed {n}",
                    make_text(rng, rng.randint(3, 25)),
                    url=f"https://soak.test/seed/{library}/{n}",
                )
                for n in range(args.seed_articles)
            ]
            list(store.add_many(seed_articles, library))
    stop = work / "stop"
    incarnations = [0, 0]
    processes = [start_worker(args, n, 0, work) for n in range(2)]
    started = time.monotonic()
    kills = 0
    next_kill = started + args.kill_every
    deadline = started + args.minutes * 60
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            for n, process in enumerate(processes):
                if process.poll() is not None:  # a worker that ended by itself is an error
                    print(f"worker {n} ended with code {process.returncode}", file=sys.stderr)
                    incarnations[n] += 1
                    processes[n] = start_worker(args, n, incarnations[n], work)
            if time.monotonic() >= next_kill:
                victim = kills % 2
                processes[victim].send_signal(signal.SIGKILL)
                processes[victim].wait()
                kills += 1
                incarnations[victim] += 1
                processes[victim] = start_worker(args, victim, incarnations[victim], work)
                next_kill += args.kill_every
    finally:
        stop.touch()
        for process in processes:
            process.wait(timeout=120)
    elapsed = time.monotonic() - started
    counts: Counter[str] = Counter()
    errors: list[str] = []
    error_count = 0
    for path in sorted(work.glob("stats-*.json")):
        data = json.loads(path.read_text())
        counts.update(data["counts"])
        errors += data["errors"]
        error_count += data["error_count"]
    ended = [p.returncode for p in processes]
    asked = questions(args.questions, args.seed)
    with Store(args.db, ranker=None) as left:  # the index as the processes left it: cache + log
        kept = answers(left, asked)
        stored = {lib: left.count_articles(lib) for lib in LIBRARIES}
    shutil.move(str(args.db) + ".index", work / "cache-set-aside")
    with Store(args.db, ranker=None) as fresh:  # rebuilt from the database alone
        rebuilt = answers(fresh, asked)
    compared = sum(max(len(a), len(b)) for a, b in zip(kept, rebuilt, strict=True))
    mismatches = sum(
        sum(
            1
            for i in range(max(len(a), len(b)))
            if (a[i] if i < len(a) else None) != (b[i] if i < len(b) else None)
        )
        for a, b in zip(kept, rebuilt, strict=True)
    )
    problems = integrity(Path(args.db))
    print(f"soak: {elapsed / 60:.1f} min, 2 processes x {args.threads} threads, {kills} kills (SIGKILL)")
    print(
        "operations: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f"; total {sum(counts.values())}"
    )
    print(f"articles at the end: {stored}")
    print(f"errors: {error_count}" + (f" (first: {errors[:3]})" if errors else ""))
    print(f"workers' exit codes at the end: {ended}")
    print(f"answers compared: {compared} ({len(asked)} questions, top 5), mismatches: {mismatches}")
    print(f"integrity: {problems if problems else 'ok'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if error_count == 0 and mismatches == 0 and not problems and ended == [0, 0] else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="How long to run (default 10).")
    parser.add_argument("--kill-every", type=float, default=30.0, help="Seconds between kills of a writer.")
    parser.add_argument("--threads", type=int, default=4, help="Threads in each of the 2 processes.")
    parser.add_argument("--questions", type=int, default=300, help="Questions compared at the end.")
    parser.add_argument("--seed-articles", type=int, default=400, help="Articles per library at the start.")
    parser.add_argument(
        "--cache-min",
        type=int,
        default=1000,
        help="Passages from which the index is cached (the store's is 20000).",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None, help="Database file (default: a new temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--incarnation", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        store_module.CACHE_MIN_PASSAGES = args.cache_min
        worker(str(args.db), args.worker, args.incarnation, args.work, args.work / "stop", args.threads)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
