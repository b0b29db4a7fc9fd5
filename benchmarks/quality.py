"""Answer quality: the evaluation protocol of ../shared/eval/README.md, Clippings beside plain BM25.

    python benchmarks/quality.py                      # dev, strict dev, XQuAD and the seed questions
    python benchmarks/quality.py --limit 100          # a quick run: the first 100 questions of each split
    python benchmarks/quality.py --ablate             # also one row per ranking idea switched off

Each question about week W is asked of a library of every article whose `weeks` holds W (built once
per week through `Store.add_many`, the code path of `clippings add`, and searched through
`Store.search`, the code path of `clippings ask`). The top 3 passages are the ones the bot shows; a
passage is a hit when its normalised text holds a normalised answer string. Metrics: R@1, R@3,
MRR@10 and the mean characters of the passages shown.

Rows, all from the same run and the same libraries:
- Clippings: `Store(path)`, the default ranker.
- Clippings, ranker off: `Store(path, ranker=None)`, exact BM25Okapi on Clippings' tokenizer.
- rank-bm25 over the same passages, with lowercase `\\w+` tokens and no stopwords: the baseline.
- rank-bm25 over 3-sentence windows (stride 2, cap 700): the setup of the issue's reference table.

The evaluation data is internal and is never copied into this repository: pass its folder with
--data (default ../shared/eval). Per-question results go to benchmarks/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index import rank as rerank_module  # noqa: E402
from index.ingest.passages import Span, split_sentences  # noqa: E402
from index.ingest.readers import ReadFailure, articles_from_json, read_path  # noqa: E402
from index.models import Article  # noqa: E402
from index.store import Store  # noqa: E402

try:
    from tqdm import tqdm
except ImportError:  # tqdm comes with the `bench` extra; without it there is no bar.

    def tqdm(iterable: Iterable, **_: object) -> Iterable:  # type: ignore[no-redef]
        return iterable


DEFAULT_DATA = REPO.parent / "shared" / "eval"
DEFAULT_SAMPLE = REPO / "samples" / "qin-gang-peace-talks.txt"
RESULTS = REPO / "benchmarks" / "results"
LIBRARY = "eval"
SHOWN = 3
DEPTH = 10
"""MRR is MRR@10: the first hit within the top 10."""
OTHERS = 150
"""Articles picked from the corpus to sit beside the sample article."""

CLIPPINGS = "Clippings"
LEARNED_ROW = "Clippings + learned stage (clippings-bot[rerank])"
RANKER_OFF = "Clippings, ranker off (exact BM25)"
WORD_FORMS_ROW = "Clippings + other word forms as candidates"
BASELINE = "rank-bm25, \\w+, same passages (baseline)"
WINDOWS = "rank-bm25, \\w+, 3-sentence windows"

SPLITS = ("dev", "strict", "xquad", "seeds")

# -- the hit rule -----------------------------------------------------------------------------

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "‟": '"'})
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, casefold, curly quotes to straight ones, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return _WHITESPACE.sub(" ", text).strip()


def first_hit(passages: list[str], answers: list[str]) -> int | None:
    """1-based rank of the first passage holding an answer, or None."""
    wanted = [a for a in (normalize(x) for x in answers) if a]
    for rank, passage in enumerate(passages, start=1):
        text = normalize(passage)
        if any(a in text for a in wanted):
            return rank
    return None


# -- the plain baselines ----------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def plain_tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class PlainBM25:
    """rank-bm25's BM25Okapi over a list of passage texts; ties go to the earlier passage."""

    def __init__(self, passages: list[str]) -> None:
        self.passages = passages
        self.bm25 = BM25Okapi([plain_tokens(p) for p in passages]) if passages else None

    def top(self, question: str, n: int) -> list[str]:
        if self.bm25 is None:
            return []
        scores = self.bm25.get_scores(plain_tokens(question))
        order = np.lexsort((np.arange(len(scores)), -scores))[:n]
        return [self.passages[i] for i in order]


def sentence_windows(text: str, size: int = 3, stride: int = 2, cap: int = 700) -> list[str]:
    """Windows of `size` sentences every `stride` sentences; a window over `cap` loses sentences
    from its end, and a single sentence over `cap` is cut at `cap`."""
    sentences = split_sentences(text)
    windows = []
    for i in range(0, max(len(sentences) - size + stride, 1), stride):
        group = sentences[i : i + size]
        if not group:
            break
        while len(group) > 1 and group[-1].end - group[0].start > cap:
            group = group[:-1]
        span = Span(group[0].start, min(group[-1].end, group[0].start + cap))
        windows.append(text[span.start : span.end])
    return windows


# -- questions and libraries ------------------------------------------------------------------


@dataclass
class Question:
    split: str
    id: str
    question: str
    answers: list[str]
    group: str
    """The library it is asked of: a week, "xquad", or a seed library."""


@dataclass
class Job:
    """One library and the questions asked of it."""

    group: str
    articles: list[Article]
    questions: list[Question]


@dataclass
class SystemResult:
    rank: int | None
    shown: list[dict]
    seconds: float
    ranker_seconds: float | None = None
    """Time spent in the ranking stage alone (None for systems without one)."""


@dataclass
class Outcome:
    question: Question
    systems: dict[str, SystemResult] = field(default_factory=dict)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_articles(lines: Iterable[str], source: str) -> list[Article]:
    """Corpus records through the JSON Lines reader of `clippings add` (cleaning, titles)."""
    articles = []
    for item in articles_from_json("\n".join(lines), source, lines=True):
        if isinstance(item, ReadFailure):
            continue
        articles.append(item)
    return articles


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(
            f"{path} is missing: pass the evaluation data folder with --data "
            f"(default {DEFAULT_DATA}); see its README.md."
        )
    return path


def week_half(week: str, weeks: list[str]) -> str:
    return "first" if weeks.index(week) < len(weeks) // 2 else "second"


def plan(args: argparse.Namespace) -> tuple[list[Job], dict[str, list[str]]]:
    """The libraries to build and the questions for each; and the sorted dev weeks."""
    data: Path = args.data
    jobs: list[Job] = []
    splits = args.splits
    info: dict[str, list[str]] = {}
    by_week: dict[str, list[Question]] = defaultdict(list)
    if "dev" in splits or "strict" in splits:
        dev_rows = read_jsonl(require(data / "realtimeqa" / "questions_dev.jsonl"))
        weeks = sorted({q["week"] for q in dev_rows})
        info["dev_weeks"] = weeks
        for split, name in (("dev", "questions_dev.jsonl"), ("strict", "questions_strict_dev.jsonl")):
            if split not in splits:
                continue
            rows = read_jsonl(require(data / "realtimeqa" / name))
            if args.half:
                rows = [q for q in rows if week_half(q["week"], weeks) == args.half]
            if args.limit:
                rows = rows[: args.limit]
            for q in rows:
                by_week[q["week"]].append(Question(split, q["id"], q["question"], q["answers"], q["week"]))
    corpus_path = data / "realtimeqa" / "articles.jsonl.gz"
    wanted_weeks = set(by_week)
    week_lines: dict[str, list[str]] = defaultdict(list)
    others: list[str] = []
    if wanted_weeks or "seeds" in splits:
        ids: list[str] = []
        lines: list[str] = []
        with gzip.open(require(corpus_path), "rt", encoding="utf-8") as f:
            for line in tqdm(f, desc="reading the corpus", unit=" articles", leave=False):
                record = json.loads(line)
                ids.append(record["id"])
                for week in wanted_weeks.intersection(record.get("weeks") or ()):
                    week_lines[week].append(line)
                if "seeds" in splits:
                    lines.append(line)
        if "seeds" in splits:
            picked = set(random.Random(0).sample(ids, OTHERS))
            others = [line for i, line in zip(ids, lines, strict=True) if i in picked]
    for week in sorted(by_week):
        jobs.append(Job(week, parse_articles(week_lines[week], f"week {week}"), by_week[week]))
    if "xquad" in splits:
        rows = read_jsonl(require(data / "xquad_en" / "questions.jsonl"))
        if args.limit:
            rows = rows[: args.limit]
        articles_path = require(data / "xquad_en" / "articles.jsonl")
        articles = parse_articles(articles_path.read_text(encoding="utf-8").splitlines(), "xquad")
        questions = [Question("xquad", q["id"], q["question"], q["answers"], "xquad") for q in rows]
        jobs.append(Job("xquad", articles, questions))
    if "seeds" in splits:
        rows = read_jsonl(require(data / "seed_questions.jsonl"))
        sample = [a for a in read_path(str(require(args.sample))) if not isinstance(a, ReadFailure)]
        if not sample:
            sys.exit(f"{args.sample} could not be read as an article.")
        for split, articles in (
            ("seeds alone", sample),
            ("seeds among 150", sample + parse_articles(others, "corpus sample")),
        ):
            questions = [Question(split, q["id"], q["question"], q["answers"], split) for q in rows]
            jobs.append(Job(split, articles, questions))
    return jobs, info


# -- running ----------------------------------------------------------------------------------


def rankers(ablate: bool) -> dict[str, Callable | None]:
    """Extra rows: the default ranker with one idea switched off at a time."""
    rows: dict[str, Callable | None] = {}
    if ablate:
        for name, ranker in rerank_module.ablations().items():
            rows[f"Clippings without {name}"] = ranker
    return rows


def _shown(hits: list) -> list[dict]:
    return [{"title": h.article.title, "passage": h.passage.text} for h in hits]


def _timed_search(store: Store, question: str) -> tuple[list, float]:
    start = time.perf_counter()
    try:
        hits = store.search(question, [LIBRARY], k=DEPTH).hits
    except Exception as exc:  # a question with no searchable words shows nothing
        if type(exc).__name__ != "NoSearchableWords":
            raise
        hits = []
    return hits, time.perf_counter() - start


def _result(passages: list[str], shown: list[dict], answers: list[str], seconds: float) -> SystemResult:
    return SystemResult(first_hit(passages, answers), shown[:SHOWN], seconds)


class TimedRanker:
    """The store's own ranker, called as `Store.search` calls it, timing each call."""

    def __init__(self, ranker: Callable) -> None:
        self.ranker = ranker
        self.candidates: int = getattr(ranker, "candidates", rerank_module.CANDIDATES)
        self.last = 0.0

    def __call__(self, *args: object) -> list:
        start = time.perf_counter()
        try:
            return self.ranker(*args)
        finally:
            self.last = time.perf_counter() - start


def build_library(path: Path, articles: list[Article]) -> None:
    with Store(path, ranker=None) as store:
        for _ in store.add_many(articles, LIBRARY):
            pass


def library_path(job: Job, cache: Path | None, tmp: Path) -> Path:
    """The built library of a job: from the cache when it is there, else built (into the cache, or
    into `tmp`)."""
    path = (cache / f"{_safe(job.group)}.db") if cache else tmp / "library.db"
    if not path.exists():
        build_library(path.with_suffix(".part"), job.articles)
        for suffix in ("-wal", "-shm"):
            Path(str(path.with_suffix(".part")) + suffix).unlink(missing_ok=True)
        path.with_suffix(".part").rename(path)
    return path


_ENCODER = None


def _encoder():
    """One encoder per process (the `rerank` extra), made on first use."""
    global _ENCODER
    if _ENCODER is None:
        from index.rank.semantic import load_encoder

        _ENCODER = load_encoder(threads=int(os.environ.get("CLIPPINGS_ENCODER_THREADS", "1")))
    return _ENCODER


def run_job(
    job: Job, cache: Path | None, ablate: bool, windows: bool, learned: bool = False, word_forms: bool = False
) -> list[Outcome]:
    """Build one library (or reuse a cached one) and ask all of its questions of every system."""
    with tempfile.TemporaryDirectory(prefix="clippings-quality-") as tmp:
        path = library_path(job, cache, Path(tmp))
        stores: dict[str, Store] = {CLIPPINGS: Store(path), RANKER_OFF: Store(path, ranker=None)}
        if learned:
            # Libraries built without vectors get them on first use, and keep them (in the cache).
            stores[LEARNED_ROW] = Store(path, encoder=_encoder())
        if word_forms:
            stores[WORD_FORMS_ROW] = Store(path, word_forms=True)
        for name, ranker in rankers(ablate).items():
            stores[name] = Store(path, ranker=ranker)
        for store in stores.values():
            if store.ranker is not None:
                store.ranker = TimedRanker(store.ranker)
        try:
            plain = stores[RANKER_OFF]
            library_articles = plain.list_articles(LIBRARY, limit=10**9)
            texts = [p.text for a in library_articles for p in plain.passages(LIBRARY, a.id)]
            baselines = {BASELINE: PlainBM25(texts)}
            if windows:
                baselines[WINDOWS] = PlainBM25(
                    [w for a in library_articles for w in sentence_windows(plain.article_text(LIBRARY, a.id))]
                )
            outcomes = []
            for q in job.questions:
                outcome = Outcome(q)
                for name, store in stores.items():
                    if store.ranker is not None:
                        store.ranker.last = 0.0
                    hits, seconds = _timed_search(store, q.question)
                    passages = [h.passage.text for h in hits]
                    result = _result(passages, _shown(hits), q.answers, seconds)
                    if store.ranker is not None:
                        result.ranker_seconds = store.ranker.last
                    outcome.systems[name] = result
                for name, bm25 in baselines.items():
                    start = time.perf_counter()
                    passages = bm25.top(q.question, DEPTH)
                    seconds = time.perf_counter() - start
                    shown = [{"title": "", "passage": p} for p in passages]
                    outcome.systems[name] = _result(passages, shown, q.answers, seconds)
                outcomes.append(outcome)
            return outcomes
        finally:
            for store in stores.values():
                store.close()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def cache_folder(root: Path) -> Path:
    """A cache of built libraries, keyed by the code that decides what text and passages are stored
    and by the database schema version (the store rebuilds its search index from the database)."""
    from index.db import SCHEMA_VERSION

    digest = hashlib.sha256()
    for name in ("passages.py", "text.py", "readers.py"):
        digest.update((REPO / "index" / "ingest" / name).read_bytes())
    digest.update(str(SCHEMA_VERSION).encode())
    folder = root / digest.hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- metrics and the table --------------------------------------------------------------------


@dataclass
class Metrics:
    questions: int
    r1: float
    r3: float
    mrr: float
    chars: float
    ms: float


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def metrics(results: list[SystemResult]) -> Metrics:
    n = len(results)
    ranks = [r.rank for r in results]
    shown = [len(s["passage"]) for r in results for s in r.shown]
    return Metrics(
        questions=n,
        r1=sum(1 for r in ranks if r == 1) / n,
        r3=sum(1 for r in ranks if r is not None and r <= SHOWN) / n,
        mrr=sum(1 / r for r in ranks if r is not None and r <= DEPTH) / n,
        chars=statistics.fmean(shown) if shown else 0.0,
        ms=1000 * statistics.fmean(r.seconds for r in results),
    )


def columns(outcomes: list[Outcome], info: dict[str, list[str]]) -> dict[str, list[Outcome]]:
    """Question groups for the table: each split, and dev's first and second half of weeks."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    weeks = info.get("dev_weeks", [])
    for o in outcomes:
        split = o.question.split
        groups[split].append(o)
        if split in ("dev", "strict") and weeks:
            groups[f"{split}, {week_half(o.question.group, weeks)} half of weeks"].append(o)
    order = [
        f"{s}{h}" for s in ("dev", "strict") for h in ("", ", first half of weeks", ", second half of weeks")
    ]
    order += ["xquad", "seeds alone", "seeds among 150"]
    return {name: groups[name] for name in order if groups.get(name)}


def table(outcomes: list[Outcome], info: dict[str, list[str]], systems: list[str]) -> str:
    groups = columns(outcomes, info)
    lines = [
        "| setup | " + " | ".join(f"{name} ({len(g)})" for name, g in groups.items()) + " |",
        "|---|" + "---|" * len(groups),
    ]
    for system in systems:
        cells = []
        for group in groups.values():
            m = metrics([o.systems[system] for o in group])
            cells.append(f"{m.r1:.3f} / {m.r3:.3f} / {m.mrr:.3f} · {m.chars:.0f}")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Cells: R@1 / R@3 / MRR@10 · mean characters per passage shown.")
    speed = []
    ranking = []
    for system in systems:
        m = metrics([o.systems[system] for o in outcomes])
        p95 = 1000 * percentile([o.systems[system].seconds for o in outcomes], 0.95)
        speed.append(f"{system}: {m.ms:.1f} ms mean, {p95:.1f} ms p95")
        ranker = [o.systems[system].ranker_seconds for o in outcomes]
        ranker = [s for s in ranker if s is not None]
        if ranker:
            mean = 1000 * statistics.fmean(ranker)
            ranking.append(f"{system}: {mean:.1f} ms mean, {1000 * percentile(ranker, 0.95):.1f} ms p95")
    lines.append("Time per question (search only): " + "; ".join(speed) + ".")
    if ranking:
        lines.append("Of which the ranking stage: " + "; ".join(ranking) + ".")
    return "\n".join(lines)


def seed_ranks(outcomes: list[Outcome]) -> str:
    rows = [o for o in outcomes if o.question.split.startswith("seeds")]
    if not rows:
        return ""
    shown = [s for s in (CLIPPINGS, LEARNED_ROW, RANKER_OFF, BASELINE) if s in rows[0].systems]
    lines = ["Seed questions, rank of the first answering passage (" + " / ".join(shown) + "):"]
    for o in rows:
        ranks = [o.systems[s].rank for s in shown]
        lines.append(f"  {o.question.split:16} {o.question.question!r}: " + " / ".join(str(r) for r in ranks))
    return "\n".join(lines)


def write_results(path: Path, outcomes: list[Outcome], argv: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [
        {
            "split": o.question.split,
            "id": o.question.id,
            "library": o.question.group,
            "question": o.question.question,
            "answers": o.question.answers,
            "systems": {
                name: {"hit": r.rank is not None and r.rank <= SHOWN, "rank": r.rank, "top3": r.shown}
                for name, r in o.systems.items()
            },
        }
        for o in outcomes
    ]
    path.write_text(
        json.dumps({"command": argv, "questions": records}, ensure_ascii=False, indent=1), encoding="utf-8"
    )


def run(jobs: list[Job], args: argparse.Namespace) -> list[Outcome]:
    cache = cache_folder(args.cache) if args.cache else None
    outcomes: list[Outcome] = []
    total = sum(len(j.questions) for j in jobs)
    bar = tqdm(total=total, desc="questions", unit=" q")
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [
                pool.submit(
                    run_job, j, cache, args.ablate, not args.no_windows, args.learned, args.word_forms
                )
                for j in jobs
            ]
            for future in futures:
                done = future.result()
                outcomes.extend(done)
                bar.update(len(done))
    else:
        for job in jobs:
            done = run_job(job, cache, args.ablate, not args.no_windows, args.learned, args.word_forms)
            outcomes.extend(done)
            bar.update(len(done))
    bar.close()
    return outcomes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="evaluation data folder")
    parser.add_argument(
        "--sample", type=Path, default=DEFAULT_SAMPLE, help="the article of the seed questions"
    )
    parser.add_argument(
        "--splits",
        default=",".join(SPLITS),
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        help="comma-separated: dev, strict, xquad, seeds (default: all)",
    )
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions of each split")
    parser.add_argument(
        "--half", choices=("first", "second"), help="only the first or second half of dev weeks"
    )
    parser.add_argument("--ablate", action="store_true", help="add a row per ranking idea switched off")
    parser.add_argument(
        "--word-forms",
        action="store_true",
        help="add a row with other word forms' candidates (Store(word_forms=True))",
    )
    parser.add_argument("--no-windows", action="store_true", help="skip the 3-sentence-window baseline")
    parser.add_argument(
        "--learned",
        action="store_true",
        help="add the learned stage's row (needs the rerank extra; passages lacking vectors get them on "
        "first use, about 40 a second a thread, and keep them in the cached libraries; "
        "CLIPPINGS_ENCODER_THREADS sets the threads)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--cache", type=Path, help="keep built libraries here and reuse them")
    parser.add_argument(
        "--out", type=Path, help="per-question JSON (default benchmarks/results/quality-TIME.json)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.splits) - set(SPLITS)
    if unknown:
        parser.error(f"unknown split {', '.join(sorted(unknown))}; choose from {', '.join(SPLITS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    jobs, info = plan(args)
    if not jobs:
        sys.exit("No questions to ask; check --splits and --limit.")
    outcomes = run(jobs, args)
    systems = [
        CLIPPINGS,
        *([LEARNED_ROW] if args.learned else []),
        *([WORD_FORMS_ROW] if args.word_forms else []),
        RANKER_OFF,
        BASELINE,
    ]
    if not args.no_windows:
        systems.append(WINDOWS)
    systems += list(rankers(args.ablate))
    print(table(outcomes, info, systems))
    ranks = seed_ranks(outcomes)
    if ranks:
        print(ranks)
    out = args.out or RESULTS / f"quality-{datetime.now():%Y%m%d-%H%M%S}.json"
    write_results(out, outcomes, sys.argv if argv is None else ["quality.py", *argv])
    print(f"Per-question results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
