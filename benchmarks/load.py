"""Load through the Discord fake: many /ask at once on a big library, while heartbeats keep going.

    python benchmarks/load.py                      # 200 /ask in 2 s on >= 100k passages
    python benchmarks/load.py --import-articles 10000   # the same while `clippings add` imports
    python benchmarks/load.py --learned --passages 20000  # the default ranker, then the learned stage

Builds (once, cached under benchmarks/results/) a library of at least --passages passages from the
real corpus, starts the real bot against tests/discord_fake/ on 127.0.0.1, sends --asks
interactions spread over --seconds from distinct members, and reports the time to acknowledge
(Discord allows 3 s) and to answer, p50/p95/max, plus the longest gap between heartbeats.
With --learned (the rerank extra) the library's passages get their vectors first (`clippings
--learned embed`, about 60 passages a second on two threads, kept in the cached library), and the
same load runs twice in the same process: with the default ranker, then with the learned stage.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.client import ClippingsBot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from index import Article, Store  # noqa: E402
from tests.discord_fake import FakeDiscord, run_bot  # noqa: E402

EVAL = REPO.parent / "shared" / "eval" / "realtimeqa"
log = logging.getLogger("benchmarks.load")


def corpus(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            yield Article(
                title=record["title"],
                text=record["text"],
                url=record.get("url"),
                published=record.get("date"),
            )


def build_library(db: Path, articles: Path, passages: int) -> int:
    """A library of at least `passages` passages (built once, then reused)."""
    with Store(db) as store:
        have = store.stats()["libraries"].get("global", {}).get("passages", 0)
        if have >= passages:
            return have
        total = have
        stream = corpus(articles)
        for _ in range(store.count_articles("global")):
            next(stream)
        for result in store.add_many(stream, "global"):
            total += result.article.passage_count if result.status == "added" else 0
            if total >= passages:
                break
        return total


def embed_library(db: Path, encoder) -> int:
    """Give every passage of the library its vector (once; kept in the file). Returns how many were made."""
    made = 0
    with Store(db, encoder=encoder) as store:
        missing = store.count_missing_vectors()
        for done in store.embed_missing():
            made += done
            print(f"\rembedding: {made} / {missing} passages", end="", file=sys.stderr, flush=True)
    if made:
        print(file=sys.stderr)
    return made


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_load(
    db: Path, questions: list[str], asks: int, seconds: float, import_file: Path | None, encoder=None
) -> dict:
    store = Store(db, encoder=encoder)
    # Late acknowledgements are what this benchmark counts, so the fake records them instead of refusing.
    async with FakeDiscord(
        heartbeat_interval=1.0, default_timeout=60, enforce_ack_deadline=False, fail_on_client_errors=False
    ) as fake:
        guild = fake.add_guild("Load")
        channel = guild.add_text_channel("general")
        users = [fake.add_user(f"member{i}") for i in range(asks)]
        for user in users:
            guild.add_member(user)
        settings = Settings(token=fake.token, db_path=str(db), ask_cooldown=0.0, guild_ready_timeout=0.05)
        bot = ClippingsBot(settings, store)
        async with run_bot(fake, bot, logger_names=("discord", "bot")):
            importer = None
            if import_file:
                importer = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "index",
                        "--db",
                        str(db),
                        "add",
                        "--library",
                        "import",
                        str(import_file),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                await asyncio.sleep(2)  # let the import get going
            loop = asyncio.get_running_loop()
            heartbeats_before = len(fake.heartbeats)
            answers: dict[int, float] = {}

            async def one(i: int) -> tuple[float, float]:
                await asyncio.sleep(i * seconds / asks)
                inter = await fake.invoke_command(
                    "ask", {"question": questions[i % len(questions)]}, user=users[i], channel=channel
                )
                await inter.wait_followup(timeout=60)
                answers[i] = loop.time() - inter.created_at
                return inter.ack_latency, answers[i]

            started = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(asks)))
            wall = time.perf_counter() - started
            beats = fake.heartbeats[heartbeats_before:]
            gaps = [b - a for a, b in itertools.pairwise(beats)]
            if importer:
                importer.terminate()
                importer.wait()
            late = len(fake.late_interactions())
    store.close()
    acks = [r[0] for r in results]
    answer_times = [r[1] for r in results]
    return {
        "asks": asks,
        "answered": len(answers),
        "late_acks": late,
        "wall_s": wall,
        "ack_p50_ms": statistics.median(acks) * 1000,
        "ack_p95_ms": percentile(acks, 0.95) * 1000,
        "ack_max_ms": max(acks) * 1000,
        "answer_p50_ms": statistics.median(answer_times) * 1000,
        "answer_p95_ms": percentile(answer_times, 0.95) * 1000,
        "answer_max_ms": max(answer_times) * 1000,
        "heartbeats": len(beats),
        "max_heartbeat_gap_s": max(gaps) if gaps else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=EVAL / "articles.jsonl.gz")
    parser.add_argument("--questions", type=Path, default=EVAL / "questions_dev.jsonl")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument(
        "--import-articles", type=int, default=0, help="run `clippings add` of this many articles meanwhile"
    )
    parser.add_argument("--cache", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--learned", action="store_true", help="also run the load with the learned stage (the rerank extra)"
    )
    args = parser.parse_args()
    for path in (args.articles, args.questions):
        if not path.exists():
            sys.exit(
                f"{path} is missing: pass --articles/--questions (the eval data lives in ../shared/eval)."
            )
    logging.basicConfig(level=logging.WARNING)
    args.cache.mkdir(parents=True, exist_ok=True)
    db = args.cache / f"load-{args.passages}.db"
    started = time.perf_counter()
    passages = build_library(db, args.articles, args.passages)
    print(f"library: {passages} passages in {db} ({time.perf_counter() - started:.1f} s to prepare)")
    questions = [json.loads(line)["question"] for line in args.questions.open()]
    import_file = None
    if args.import_articles:
        with (
            gzip.open(args.articles, "rt", encoding="utf-8") as lines,
            tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle,
        ):
            for n, line in enumerate(lines):
                if n >= args.import_articles:
                    break
                handle.write(line)
        import_file = Path(handle.name)
    runs = {"default ranker": None}
    if args.learned:
        from index.rank.semantic import load_encoder

        encoder = load_encoder(threads=2)
        started = time.perf_counter()
        made = embed_library(db, encoder)
        print(f"vectors: {made} made ({time.perf_counter() - started:.1f} s)")
        runs["learned stage"] = encoder
    results = {}
    for name, encoder in runs.items():
        results[name] = asyncio.run(run_load(db, questions, args.asks, args.seconds, import_file, encoder))
    if import_file:
        import_file.unlink()
    during = f" while importing {args.import_articles} articles" if import_file else ""
    print("| ranker | measure | p50 | p95 | max | Discord's limit |")
    print("|---|---|---|---|---|---|")
    for name, figures in results.items():
        print(
            f"| {name} | acknowledge (defer) | {figures['ack_p50_ms']:.0f} ms | {figures['ack_p95_ms']:.0f} ms | {figures['ack_max_ms']:.0f} ms | 3000 ms |"
        )
        print(
            f"| {name} | answer (followup) | {figures['answer_p50_ms']:.0f} ms | {figures['answer_p95_ms']:.0f} ms | {figures['answer_max_ms']:.0f} ms | 15 min (token) |"
        )
    for name, figures in results.items():
        print(
            f"{name}: {figures['asks']} /ask sent over {args.seconds:.0f} s{during}; {figures['answered']} answered, "
            f"{figures['late_acks']} acknowledged late (> 3 s); heartbeats {figures['heartbeats']}, "
            f"longest gap {figures['max_heartbeat_gap_s']:.2f} s (interval 1.0 s)"
        )


if __name__ == "__main__":
    main()
