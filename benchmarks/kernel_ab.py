"""Two builds of the ranking kernel in one process: ranking alone, each question's least time.

    gcc -O3 -ffp-contract=off -shared -fPIC -I"$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \\
        ../base/index/engine/_kernel.c -o /tmp/base-kernel.so
    python benchmarks/kernel_ab.py --db LIBRARY.db --base-kernel /tmp/base-kernel.so --rounds 5

Loads another build of `_kernel.c` (--base-kernel, built as above from the other checkout) beside this
checkout's, both from their files, and opens the library once. Every round asks each question of both
builds, one right after the other, in alternating order, as `Store.search` asks the engine
(`SearchIndex.top(["global"], term ids, 40)`, exact scores included); a question's time is its least
over the rounds. Because both builds run in the same process on the same questions moments apart,
the machine's drift (other programs, the cache of the library's pages) touches both alike, which
separate runs (`rank_top.py`) cannot promise. Prints p50 / p95 / mean ms of each build, and checks
that both return the same passages and scores, bit for bit, for every question.

Both builds rank on one thread unless `--threads 2`: then this checkout's build ranks a library of
200k passages or more in two halves at once, as a `Store` does on a machine with two cores. With a
copy of this checkout's own build as --base-kernel, that is the gain of the split search alone:

    cp _clippings_kernel*.so /tmp/one-thread.so
    python benchmarks/kernel_ab.py --db LIBRARY.db --base-kernel /tmp/one-thread.so --threads 2

With --cold, a 64 MiB buffer is written before each timed call, so that the question's postings and
the scratch arrays are no longer in the CPU's caches: a new question, as the bot meets it. Without
it, each question's least time is that of a question asked again.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from rank_top import DEPTH  # noqa: E402
from speed import DEFAULT_QUESTIONS, make_queries, pct  # noqa: E402


def load_build(path: Path) -> ModuleType:
    """A build of the kernel module loaded from its file (beside any other build already loaded)."""
    loader = importlib.machinery.ExtensionFileLoader("_clippings_kernel", str(path))
    spec = importlib.util.spec_from_file_location("_clippings_kernel", path, loader=loader)
    if spec is None:
        sys.exit(f"{path} is not a Python extension module.")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--base-kernel", type=Path, required=True, help="the other build (a .so file)")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--count", type=int, default=200, help="questions")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="rank threads of this checkout's build (the base build ranks on one); with 2 and a copy of this "
        "build as --base-kernel, the gain of the split search alone",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="write a 64 MiB buffer before each timed call, so that no posting or score is still in the "
        "CPU's caches: a new question, as the bot meets it, rather than one asked again",
    )
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db} does not exist: build a library first (benchmarks/speed.py --work DIR).")
    if not args.base_kernel.exists():
        sys.exit(f"{args.base_kernel} does not exist: build it first (see --help).")

    import numpy as np

    from index.engine.kernel import Kernel
    from index.ingest.text import question_terms
    from index.store import Store

    this = importlib.import_module("_clippings_kernel")
    base = load_build(args.base_kernel.resolve())
    if Path(this.__file__ or "").resolve() == args.base_kernel.resolve():
        sys.exit("--base-kernel is this checkout's own build: pass the other one.")
    kernels = {"base": (Kernel(base), 1), "this": (Kernel(this), args.threads)}

    store = Store(str(args.db))
    store.ensure_loaded(["global"])
    questions = make_queries(args.questions, count=args.count)["questions"]
    calls = [store.db.known_term_ids(question_terms(q)) for q in questions]
    index = store.index
    for kernel, threads in kernels.values():  # warm up
        index.kernel, index.rank_threads = kernel, threads
        for ids in calls[:30]:
            index.top(["global"], ids, DEPTH)
    sweep = np.zeros(8 << 20) if args.cold else None  # 64 MiB: twice this machine's last-level cache
    best = {name: [float("inf")] * len(calls) for name in kernels}
    differ = 0
    for round_ in range(args.rounds):
        for k, ids in enumerate(calls):
            order = list(kernels) if (k + round_) % 2 == 0 else list(reversed(kernels))
            found = {}
            for name in order:
                index.kernel, index.rank_threads = kernels[name]
                if sweep is not None:
                    sweep += 1.0
                started = time.perf_counter()
                pids, scores, _ = index.top(["global"], ids, DEPTH)
                best[name][k] = min(best[name][k], (time.perf_counter() - started) * 1000)
                found[name] = pids.tobytes() + scores.tobytes()
            differ += round_ == 0 and found["base"] != found["this"]
    store.close_without_saving()
    caches = ", caches swept before each" if args.cold else ""
    print(f"top {DEPTH} of {len(calls)} whole questions, least of {args.rounds} rounds each{caches}, ms:")
    print("| build | p50 | p95 | mean |")
    print("|---|---|---|---|")
    for name, times in best.items():
        print(f"| {name} | {pct(times, 50):.2f} | {pct(times, 95):.2f} | {statistics.mean(times):.2f} |")
    print("same passages and scores:", "yes" if not differ else f"NO ({differ} questions differ)")


if __name__ == "__main__":
    main()
