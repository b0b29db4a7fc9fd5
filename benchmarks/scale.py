"""Past one machine: 1, 2 and 3 bot processes on one PostgreSQL, beside one SQLite process, in one run.

    python benchmarks/scale.py                        # 5,000 articles over 1,000 server libraries
    python benchmarks/scale.py --articles 0           # the whole corpus (slow: about 100 articles/s to add)
    python benchmarks/scale.py --burst 300 --probes 30

The corpus (../shared/eval/realtimeqa/articles.jsonl.gz; --articles N takes its first N articles in
file order) is spread over 1,000 server libraries, article i to server i mod 1000, each server an id
shaped like a Discord snowflake so that `(id >> 22) % shards` spreads the servers over the shards.
The same articles go into a SQLite file and a PostgreSQL database made for this run (dropped at its
end).

Each bot process is a worker running the bot's answer path, `Store.search(question, [server,
"global"], k=3)` on a pool of 4 threads (as the bot's `asyncio.to_thread` does), for the servers of
its slice of 12 shards (process k of N serves shards 12k/N to 12(k+1)/N - 1). Discord itself is
left out (benchmarks/load.py measures the Discord path): questions go to the process owning the
server, as Discord routes a server's events to its shard. Per setup:

- start: the seconds until a process is up, and until it has every library of its servers in
  memory (PostgreSQL: built from the database, library by library; SQLite: opened, every library
  in memory from its index cache or the file);
- a burst: --burst dev questions to random servers, all sent at once; answers per second (burst
  size over the time until the last answer) and the time to each answer, p50/p95;
- add-to-searchable: another process (this one, like `clippings add`) adds an article while
  processes are searching for it every 5 ms: half to a server's library (searched by the process
  owning it), half to `global` (searched by every process); from the add's return to the first
  search that finds it, p50/p95 over every process that searched;
- memory: each process's resident set size after the burst;
- the database size (PostgreSQL: Clippings' tables with their indexes and TOAST; SQLite: the file
  and its WAL), and beside it the SQLite file's index cache (`<db>.index/`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index import GLOBAL_LIBRARY, Article, Store  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "eval" / "realtimeqa"
DEFAULT_ADMIN = "postgresql://127.0.0.1:5432/postgres"
SERVERS = 1000
SHARDS = 12
THREADS = 4
EPOCH_MS = 1_700_000_000_000 - 1_420_070_400_000
"""A snowflake timestamp (ms since Discord's epoch) the server ids start at."""


def server_ids() -> list[int]:
    return [((EPOCH_MS + i) << 22) | (1 << 17) for i in range(SERVERS)]


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


def slices(processes: int) -> list[range]:
    return [range(SHARDS * k // processes, SHARDS * (k + 1) // processes) for k in range(processes)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# -- a bot process ------------------------------------------------------------------------------


def worker(db: str, first: int, last: int) -> None:
    """Serve the servers of shards first..last: JSON commands on stdin, JSON replies on stdout."""
    started = time.perf_counter()
    store = Store(db)
    opened = time.perf_counter() - started
    lock = threading.Lock()
    pool = ThreadPoolExecutor(THREADS)
    mine = [g for g in server_ids() if first <= shard_of(g) <= last]

    def reply(message: dict) -> None:
        with lock:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def answer(command: dict) -> None:
        hits = store.search(command["question"], [str(command["guild"]), GLOBAL_LIBRARY], k=3).hits
        reply({"id": command["id"], "at": time.time(), "hits": len(hits)})

    def probe(command: dict) -> None:
        libraries = [str(command["guild"]), GLOBAL_LIBRARY]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            hits = store.search(command["word"], libraries, k=1).hits
            if hits and command["word"] in hits[0].passage.text:
                reply({"id": command["id"], "at": time.time()})
                return
            time.sleep(0.005)
        reply({"id": command["id"], "at": None})

    reply({"id": "opened", "seconds": opened})
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "load":
            began = time.perf_counter()
            store.ensure_loaded([*map(str, mine), GLOBAL_LIBRARY])
            reply({"id": command["id"], "seconds": time.perf_counter() - began, "libraries": len(mine)})
        elif command["op"] == "ask":
            pool.submit(answer, command)
        elif command["op"] == "probe":
            threading.Thread(target=probe, args=(command,), daemon=True).start()
    pool.shutdown()
    store.close()


class Process:
    """A running worker, and the replies it sent, by command id."""

    def __init__(self, db: str, shards: range) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "--worker", db, str(shards.start), str(shards.stop - 1)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.shards = shards
        self.replies: dict[str, dict] = {}
        self.arrived = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            message = json.loads(line)
            message["received"] = time.time()
            with self.arrived:
                self.replies[str(message["id"])] = message
                self.arrived.notify_all()

    def send(self, command: dict) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps(command) + "\n")
        self.popen.stdin.flush()

    def wait(self, ids: list[str], timeout: float = 600) -> list[dict]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: all(i in self.replies for i in ids), timeout):
                raise SystemExit(f"a worker did not answer within {timeout} s")
            return [self.replies[i] for i in ids]

    def owns(self, guild: int) -> bool:
        return shard_of(guild) in self.shards

    def close(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        self.popen.wait(timeout=60)


# -- the run ------------------------------------------------------------------------------------


def articles(path: Path, limit: int) -> list[Article]:
    found = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            found.append(
                Article(
                    title=record["title"],
                    text=record["text"],
                    url=record.get("url"),
                    published=record.get("date"),
                )
            )
            if limit and len(found) >= limit:
                break
    return found


def fill(db: str, corpus: list[Article]) -> float:
    """Article i to server i mod 1000, through Store.add_many (the path of `clippings add`)."""
    guilds = server_ids()
    by_server: dict[int, list[Article]] = {}
    for i, article in enumerate(corpus):
        by_server.setdefault(guilds[i % SERVERS], []).append(article)
    started = time.perf_counter()
    with Store(db, ranker=None) as store:
        for guild, mine in by_server.items():
            for _ in store.add_many(mine, str(guild)):
                pass
    return time.perf_counter() - started


def run_setup(name: str, db: str, processes: int, questions: list[str], args: argparse.Namespace) -> dict:
    rng = random.Random(processes)
    guilds = server_ids()
    began = time.time()
    workers = [Process(db, shards) for shards in slices(processes)]
    up = max(w.wait(["opened"])[0]["received"] for w in workers) - began
    for w in workers:
        w.send({"op": "load", "id": "load"})
    loads = [w.wait(["load"])[0]["seconds"] for w in workers]
    # The burst: every question sent at once, each to the process owning its server.
    sent: dict[str, float] = {}
    owner: dict[str, Process] = {}
    for i in range(args.burst):
        guild = rng.choice(guilds)
        worker_of = next(w for w in workers if w.owns(guild))
        key = f"ask{i}"
        owner[key] = worker_of
        sent[key] = time.time()
        worker_of.send({"op": "ask", "id": key, "question": rng.choice(questions), "guild": guild})
    answered = {key: owner[key].wait([key])[0]["received"] for key in sent}
    first, last = min(sent.values()), max(answered.values())
    latencies = [answered[k] - sent[k] for k in sent]
    memory = [rss_bytes(w.popen.pid) for w in workers]
    # Add-to-searchable, seen from the other processes.
    visible: list[float] = []
    with Store(db, ranker=None) as writer:
        for i in range(args.probes):
            word = f"zq{secrets.token_hex(5)}"
            guild = rng.choice(guilds)
            library = GLOBAL_LIBRARY if i % 2 else str(guild)
            watchers = workers if library == GLOBAL_LIBRARY else [w for w in workers if w.owns(guild)]
            key = f"probe{i}"
            for w in watchers:
                w.send({"op": "probe", "id": key, "guild": guild, "word": word})
            time.sleep(0.05)  # the watchers are searching before the article exists
            writer.add(Article(title=f"Probe {i}", text=f"The {word} report was filed today."), library)
            committed = time.time()
            for w in watchers:
                at = w.wait([key])[0]["at"]
                visible.append((at - committed) if at is not None else float("inf"))
        size = writer.db.size_bytes()
        cache = Path(db + ".index")
        cache_size = (
            sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.exists() else None
        )
    for w in workers:
        w.close()
    return {
        "setup": name,
        "processes": processes,
        "start_s": up,
        "load_s": max(loads),
        "answers_per_s": args.burst / (last - first),
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "visible_p50_ms": 1000 * percentile(visible, 0.5),
        "visible_p95_ms": 1000 * percentile(visible, 0.95),
        "rss_mb": [m / 2**20 for m in memory],
        "db_mb": size / 2**20,
        "cache_mb": None if cache_size is None else cache_size / 2**20,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| setup | processes | start, s | all its libraries in memory, s | answers/s (burst) | answer p50 / p95, ms"
        " | add-to-searchable p50 / p95, ms | memory per process, MB | database, MB | index cache, MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        memory = " / ".join(f"{m:.0f}" for m in r["rss_mb"])
        lines.append(
            f"| {r['setup']} | {r['processes']} | {r['start_s']:.1f} | {r['load_s']:.2f} | {r['answers_per_s']:.0f}"
            f" | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} | {r['visible_p50_ms']:.0f} / {r['visible_p95_ms']:.0f}"
            f" | {memory} | {r['db_mb']:.0f} | {'-' if r['cache_mb'] is None else format(r['cache_mb'], '.0f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the realtimeqa folder of the eval data"
    )
    parser.add_argument("--postgres", default=DEFAULT_ADMIN, help="a server where a database may be created")
    parser.add_argument("--articles", type=int, default=5000, help="the first N corpus articles (0: all)")
    parser.add_argument("--burst", type=int, default=200, help="questions sent at once")
    parser.add_argument("--probes", type=int, default=20, help="articles added to measure add-to-searchable")
    parser.add_argument("--processes", default="1,2,3", help="PostgreSQL setups to run")
    args = parser.parse_args(argv)
    corpus_path = args.data / "articles.jsonl.gz"
    if not corpus_path.exists():
        sys.exit(f"{corpus_path} is missing: pass the realtimeqa folder of the evaluation data with --data.")
    questions = [
        json.loads(line)["question"]
        for line in (args.data / "questions_dev.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    corpus = articles(corpus_path, args.articles)
    print(f"{len(corpus)} articles over {SERVERS} server libraries; {os.cpu_count()} CPUs", file=sys.stderr)
    import psycopg

    name = f"clippings_scale_{secrets.token_hex(4)}"
    url = urlsplit(args.postgres)._replace(path=f"/{name}").geturl()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            lite = str(Path(tmp) / "scale.db")
            for label, db in (("SQLite", lite), ("PostgreSQL", url)):
                print(f"adding to {label}: {fill(db, corpus):.0f} s", file=sys.stderr)
            rows.append(run_setup("SQLite file", lite, 1, questions, args))
            for n in (int(p) for p in args.processes.split(",")):
                rows.append(run_setup("PostgreSQL", url, n, questions, args))
                print(table(rows), file=sys.stderr)
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    print(table(rows))
    print(
        f"\n{len(corpus)} articles, {SERVERS} servers, burst of {args.burst}, {args.probes} adds, {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main())
