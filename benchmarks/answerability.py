"""Answerability: does the library hold an answer? The decision of every search, measured.

    python benchmarks/answerability.py --cache /tmp/qcache           # search, fit, report
    python benchmarks/answerability.py --load /tmp/answerability.json # fit and report again, no search
    python benchmarks/answerability.py --load ... --ablate            # also each signal refitted away
    python benchmarks/answerability.py --cache /tmp/qcache --short-forms  # also kept of short forms
    python benchmarks/answerability.py --cache /tmp/qcache --learned      # as the rerank extra asks

Each dev week's library (the libraries of benchmarks/quality.py, built once and kept with --cache)
is asked:
- its own questions: answerable;
- unanswerable questions of four kinds: another week's questions whose answer strings appear in no
  article of the library (the next week's, and those of the week about half a year away), XQuAD's
  Wikipedia questions (spread over the weeks), and the general-knowledge, chit-chat and how-to
  questions of benchmarks/data/general_questions.txt (alternate lines for each half of the weeks,
  30 a week in turn, so that each is asked of several libraries).
The seed questions are asked of their two libraries (the sample article alone, and among 150
others): they must stay answerable.

Every search goes through `Store.search`, which decides `answerable`; the signals behind the
decision are recorded. A logistic model over the signals is fitted on the first half of the weeks
(on standardised signals; its cut set to keep 98.5% of the answerable questions whose answer is in
the top 3) and reported on the second half, beside the baseline: a cut on the top passage's score
alone (the score `clippings ask --json` prints), set to keep 98%, 98.5% and 99%, from the same
run. Also reported: the shipped model (index.rank.answerable.DEFAULT_MODEL), the decision's cost per
question, and each goal's measure with a 95% interval (a bootstrap over libraries, and over the
general questions themselves). With --learned the searches have the learned stage on, and the model
with its cosine (COSINE_MODEL) is fitted and reported too.

- abstain: the share of a kind's questions marked not answerable;
- kept: of the own-week questions whose answer is in the top 3, the share still marked answerable;
- R@1 / R@3: of the passages shown as an answer (a question marked not answerable shows none);
- with --short-forms, kept of each own-week question cut to its three and to its two rarest words
  ("qin weapons russia", "qin weapons"; answer still in the top 3): short questions, which the
  quiz questions are not.

The evaluation data is internal and never copied into this repository: pass its folder with --data
(default ../shared/eval). The per-question records go to --out (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import quality  # noqa: E402  (benchmarks/quality.py, beside this file)

from index.errors import NoSearchableWords  # noqa: E402
from index.models import Article  # noqa: E402
from index.rank import answerable as answerable_module  # noqa: E402
from index.rank.answerable import (  # noqa: E402
    SIGNAL_NAMES,
    Answerability,
    Candidates,
    Model,
    Signals,
    is_keyword_search,
    is_small_talk,
)
from index.store import Store  # noqa: E402

GENERAL = REPO / "benchmarks" / "data" / "general_questions.txt"
SHOWN = 3
DEPTH = 3
KEEP = 0.985
"""The cut keeps this share of the fitting half's answerable questions whose answer is in the top 3."""
HALF_YEAR_DAYS = 182
KINDS = ("own week", "next week", "half a year away", "xquad", "general")
UNANSWERABLE = KINDS[1:]
SHORT_FORMS = {3: "own week, three rarest words", 2: "own week, two rarest words"}
"""With --short-forms: each own-week question also cut to its three and its two rarest terms ("qin
weapons russia", "qin weapons"), answerable when its answer is still in the top 3. Reported as kept,
never fitted on: the evaluation's answerable questions are long quiz questions, so a signal that
only measures length looks useful on them and holds back the short questions people ask."""
SHORT_UNANSWERABLE = {"next week": "next week, two rarest words", "general": "general, two rarest words"}
"""With --short-forms: the next week's and the general questions cut to their two rarest terms too, as
a keyword search of things the library does not answer would be typed. Reported as abstain, never
fitted on."""
SEEDS = ("seeds alone", "seeds among 150")


@dataclass
class Record:
    kind: str
    group: str
    half: str
    question: str
    rank: int | None
    """1-based rank of the first shown passage holding an answer (None: not in the top 3)."""
    top_score: float
    """The first passage's score, as `ask --json` prints it (the baseline's signal)."""
    small_talk: bool
    answerable: bool
    """The shipped decision."""
    signals: list[float]
    ms: float
    """The decision's cost (wall clock)."""
    cpu_ms: float = 0.0
    """... and in CPU time of its thread (what it costs when the machine is not shared)."""
    inputs: list | None = None
    """What the decision was given (question, terms, idf, df, passages, top score, shown texts):
    `--load` computes the signals again from these with the current code."""


def general_questions(path: Path = GENERAL) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def holds_answer(texts: list[str], answers: list[str]) -> bool:
    """Whether any article text holds any answer string (the quality hit rule)."""
    wanted = [a for a in (quality.normalize(x) for x in answers) if a]
    return any(a in t for t in texts for a in wanted)


def _days(a: str, b: str) -> int:
    """Days from week a to week b (YYYYMMDD)."""
    return (
        dt.date.fromisoformat(f"{b[:4]}-{b[4:6]}-{b[6:]}")
        - dt.date.fromisoformat(f"{a[:4]}-{a[4:6]}-{a[6:]}")
    ).days


def week_far(week: str, weeks: list[str], days: int) -> str:
    """The other week nearest `days` after `week` (before it, when the weeks end sooner)."""
    sign = 1 if _days(week, weeks[-1]) >= days * 3 // 4 else -1
    return min((w for w in weeks if w != week), key=lambda w: (abs(_days(week, w) - sign * days), w))


@dataclass
class Ask:
    kind: str
    question: str
    answers: list[str]


def plan(args: argparse.Namespace) -> tuple[list[tuple[quality.Job, list[Ask]]], list[str]]:
    """Each library with what it is asked, and the sorted dev weeks."""
    plan_args = argparse.Namespace(
        data=args.data, splits=["dev", "seeds"], half=None, limit=0, sample=args.sample
    )
    jobs, info = quality.plan(plan_args)
    weeks = info["dev_weeks"]
    by_week = {j.group: j for j in jobs if j.group in weeks}
    xquad = quality.read_jsonl(quality.require(args.data / "xquad_en" / "questions.jsonl"))
    general = general_questions()
    planned = []
    for n, week in enumerate(weeks):
        job = by_week[week]
        texts = [quality.normalize(a.title + "\n" + a.text) for a in job.articles]
        asks = [Ask("own week", q.question, q.answers) for q in job.questions]
        following = weeks[n + 1] if n + 1 < len(weeks) else weeks[n - 1]
        for kind, other in (
            ("next week", following),
            ("half a year away", week_far(week, weeks, HALF_YEAR_DAYS)),
        ):
            asks += [
                Ask(kind, q.question, q.answers)
                for q in by_week[other].questions
                if not holds_answer(texts, q.answers)
            ]
        asks += [Ask("xquad", q["question"], q["answers"]) for q in xquad[n :: len(weeks)]]
        # Each half of the weeks has its own general questions (alternate lines), so that the model
        # is never checked on a question it was fitted on.
        pool = general[0::2] if quality.week_half(week, weeks) == "first" else general[1::2]
        per_week = min(args.general_per_week, len(pool))
        asks += [Ask("general", pool[(n * per_week + j) % len(pool)], []) for j in range(per_week)]
        planned.append((job, asks))
    for job in jobs:
        if job.group in SEEDS:
            planned.append((job, [Ask(job.group, q.question, q.answers) for q in job.questions]))
    return planned, weeks


class Recorder:
    """Wraps a store's decision: keeps its inputs, and times the whole decision step."""

    def __init__(self, store: Store) -> None:
        self.decide = store.answerability
        self.judge = store._answerable
        self.inputs: tuple | None = None
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        store.answerability = self  # type: ignore[assignment]
        store._answerable = self.timed  # type: ignore[method-assign]

    def __call__(self, *args: object) -> bool:
        # The inputs without the shown passages' stored analyses: the signals are the same made
        # from the texts again (tests/test_answerable.py), and the records stay plain JSON.
        self.inputs = args[:8]
        return self.decide(*args)  # type: ignore[arg-type]

    def timed(self, *args: object) -> bool:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.judge(*args)  # type: ignore[arg-type]
        finally:
            self.seconds = time.perf_counter() - start
            self.cpu_seconds = time.thread_time() - cpu


def rarest_words(inputs: tuple, count: int) -> str:
    """The question of a recorded decision cut to its `count` rarest terms in the library (fewest
    passages holding them), in the question's order: a short question about the same thing."""
    terms, df = list(dict.fromkeys(inputs[1])), inputs[3]
    rarest = set(sorted(terms, key=lambda t: (df.get(t, 0), t))[:count])
    return " ".join(t for t in terms if t in rarest)


def run_library(
    job: quality.Job,
    asks: list[Ask],
    cache: Path | None,
    half: str,
    short_forms: bool = False,
    learned: bool = False,
) -> list[Record]:
    """The records of one library's questions; with `short_forms`, each own-week question is also
    asked as its three and its two rarest words, and each next week's and general question as its
    two (the kinds of SHORT_FORMS and SHORT_UNANSWERABLE: reported, never fitted on). With
    `learned`, the store has the learned stage on (the `rerank` extra), as a bot with it searches: it
    orders the candidates, and each record's candidates carry its cosine."""
    records = []
    with tempfile.TemporaryDirectory(prefix="clippings-answerability-") as tmp:
        path = quality.library_path(job, cache, Path(tmp))
        with Store(path, encoder=quality._encoder() if learned else None) as store:
            recorder = Recorder(store)
            for ask in asks:
                record = ask_one(store, recorder, job.group, half, ask)
                records.append(record)
                if short_forms and ask.kind == "own week" and record.inputs:
                    for count, kind in SHORT_FORMS.items():
                        short = Ask(kind, rarest_words(record.inputs, count), ask.answers)
                        records.append(ask_one(store, recorder, job.group, half, short))
                if short_forms and ask.kind in SHORT_UNANSWERABLE and record.inputs:
                    short = Ask(SHORT_UNANSWERABLE[ask.kind], rarest_words(record.inputs, 2), ask.answers)
                    records.append(ask_one(store, recorder, job.group, half, short))
    return records


SMALL_SIZES = (1, 3, 7, 15)
"""--small-libraries: libraries of this many articles (a new server's first ones), in turn."""
SMALL_PER_WEEK = 8
"""--small-libraries: own-week questions a week, each asked of its own small library."""
SMALL_GROUP = "small"


def plan_small(args: argparse.Namespace) -> list[tuple[list[Article], list[Ask], str, str]]:
    """Small libraries, each with what it is asked, its half and its group ("small:WEEK:SIZE"): for up
    to SMALL_PER_WEEK own-week questions of each week, an article that holds the answer and other
    articles of that week that do not; asked the question, its three and two rarest words, three
    general questions of the week's half, two XQuAD questions, and up to two of the next week's
    questions whose answers no article of the library holds."""
    planned, weeks = plan(args)
    xquad = quality.read_jsonl(quality.require(args.data / "xquad_en" / "questions.jsonl"))
    general = general_questions()
    small = []
    for n, (job, asks) in enumerate(planned):
        if job.group not in weeks:
            continue
        half = quality.week_half(job.group, weeks)
        pool = general[0::2] if half == "first" else general[1::2]
        rng = random.Random(job.group)
        texts = [quality.normalize(a.title + "\n" + a.text) for a in job.articles]
        following = [a for a in asks if a.kind == "next week"]
        own = [a for a in asks if a.kind == "own week"]
        for k, ask in enumerate(rng.sample(own, min(SMALL_PER_WEEK, len(own)))):
            holding = [i for i, t in enumerate(texts) if holds_answer([t], ask.answers)]
            if not holding:
                continue
            size = SMALL_SIZES[(n + k) % len(SMALL_SIZES)]
            others = [i for i, t in enumerate(texts) if not holds_answer([t], ask.answers)]
            chosen = [rng.choice(holding), *rng.sample(others, min(size - 1, len(others)))]
            library = [job.articles[i] for i in chosen]
            held = [texts[i] for i in chosen]
            questions = [ask]
            questions += [Ask("general", q, []) for q in rng.sample(pool, 3)]
            questions += [Ask("xquad", q["question"], q["answers"]) for q in rng.sample(xquad, 2)]
            unheld = [a for a in following if not holds_answer(held, a.answers)]
            questions += rng.sample(unheld, min(2, len(unheld)))
            small.append((library, questions, half, f"{SMALL_GROUP}:{job.group}:{size}"))
    return small


def collect_small(args: argparse.Namespace) -> list[Record]:
    records: list[Record] = []
    planned = plan_small(args)
    bar = quality.tqdm(total=sum(len(q) + 2 for _, q, _, _ in planned), desc="questions", unit=" q")
    for articles, asks, half, group in planned:
        with (
            tempfile.TemporaryDirectory(prefix="clippings-answerability-") as tmp,
            Store(Path(tmp) / "small.db") as store,
        ):
            for _ in store.add_many(articles, quality.LIBRARY):
                pass
            recorder = Recorder(store)
            for ask in asks:
                record = ask_one(store, recorder, group, half, ask)
                records.append(record)
                if ask.kind == "own week" and record.inputs:
                    for count, kind in SHORT_FORMS.items():
                        short = Ask(kind, rarest_words(record.inputs, count), ask.answers)
                        records.append(ask_one(store, recorder, group, half, short))
                bar.update(3 if ask.kind == "own week" else 1)
    bar.close()
    return records


def small_library_rule(records: list[Record]) -> np.ndarray:
    """The decision for libraries under 200 passages before the model decided there too: one
    sentence holds half of the question (rareness-weighted) and no name or number is missing."""
    sentence, names = SIGNAL_NAMES.index("sentence"), SIGNAL_NAMES.index("missing_names")
    return np.array(
        [
            not r.small_talk
            and r.inputs is not None
            and bool(r.inputs[6])
            and (
                r.signals[sentence] >= 0.5 and r.signals[names] == 0.0
                if r.inputs[4] < 200
                else answerable_module.DEFAULT_MODEL.answerable(Signals(*r.signals))
            )
            for r in records
        ]
    )


def _share(rows: list[Record], decided: np.ndarray, kind: str, answerable: bool) -> str:
    """Of one kind's questions: the share kept (answerable ones whose answer is in the top 3) or
    held back, with their count."""
    mask = np.array([r.kind == kind and (r.rank is not None or not answerable) for r in rows])
    if not mask.any():
        return "-"
    value = decided[mask].mean() if answerable else 1 - decided[mask].mean()
    return f"{value:.3f} ({int(mask.sum())})"


def small_table(records: list[Record]) -> str:
    """Per library size, on the second half of the weeks: kept (as asked, as three and two rarest
    words) and abstain per kind, for the shipped decision beside the small-library rule it replaced."""
    second = [r for r in records if r.half == "second"]
    deciders = [
        ("the rule for under 200 passages", small_library_rule),
        ("Clippings", lambda rs: decisions(rs, answerable_module.DEFAULT_MODEL)),
    ]
    lines = [
        "| articles | passages (median) | decision | kept: as asked / 3 words / 2 words | abstain: next week / XQuAD / general |",
        "|---|---|---|---|---|",
    ]
    for size in (*SMALL_SIZES, None):
        rows = [r for r in second if size is None or r.group.endswith(f":{size}")]
        passages = [r.inputs[4] for r in rows if r.kind == "own week" and r.inputs]
        for name, decide in deciders:
            decided = decide(rows)

            kept = " / ".join(_share(rows, decided, k, True) for k in ("own week", *SHORT_FORMS.values()))
            abstain = " / ".join(_share(rows, decided, k, False) for k in ("next week", "xquad", "general"))
            label = "all" if size is None else str(size)
            median = f"{statistics.median(passages):.0f}" if passages else "-"
            lines.append(f"| {label} | {median} | {name} | {kept} | {abstain} |")
    return "\n".join(lines)


def ask_one(store: Store, recorder: Recorder, group: str, half: str, ask: Ask) -> Record:
    """One question asked of a library, with the decision's signals and cost."""
    recorder.inputs, recorder.seconds = None, 0.0
    try:
        response = store.search(ask.question, [quality.LIBRARY], k=DEPTH)
    except NoSearchableWords:
        return Record(
            ask.kind, group, half, ask.question, None, 0.0, True, False, [0.0] * len(SIGNAL_NAMES), 0.0
        )
    hits = response.hits
    rank = quality.first_hit([h.passage.text for h in hits], ask.answers) if ask.answers else None
    inputs = recorder.inputs
    found = recorder.decide.signals(*inputs) if inputs else Signals()  # type: ignore[attr-defined]
    return Record(
        ask.kind,
        group,
        half,
        ask.question,
        rank,
        hits[0].score if hits else 0.0,
        is_small_talk(ask.question),
        response.answerable,
        found.vector(),
        1000 * recorder.seconds,
        1000 * recorder.cpu_seconds,
        _serialisable(inputs) if inputs else None,
    )


def _serialisable(inputs: tuple) -> list:
    """The decision's inputs as JSON can hold them (the candidates as a dict)."""
    return [dataclasses.asdict(x) if isinstance(x, Candidates) else x for x in inputs]


def _inputs(saved: list) -> list:
    """The decision's inputs again from a record (records without candidates get none; fields
    this version does not know are left out)."""
    if len(saved) > 7 and isinstance(saved[7], dict):
        known = {f.name for f in dataclasses.fields(Candidates)}
        found = {k: tuple(v) if isinstance(v, list) else v for k, v in saved[7].items() if k in known}
        return [*saved[:7], Candidates(**found)]
    return saved[:7]


def recompute(records: list[Record]) -> None:
    """The signals and the small-talk flag again, with the current code, from the recorded inputs."""
    judge = Answerability()
    for r in records:
        r.small_talk = is_small_talk(r.question)
        if r.inputs:
            r.signals = judge.signals(*_inputs(r.inputs)).vector()
        else:
            r.signals = [0.0] * len(SIGNAL_NAMES)


def collect(args: argparse.Namespace) -> list[Record]:
    planned, weeks = plan(args)
    cache = quality.cache_folder(args.cache) if args.cache else None
    records: list[Record] = []
    total = sum(len(a) for _, a in planned)
    if args.short_forms:
        total += len(SHORT_FORMS) * sum(1 for _, asks in planned for a in asks if a.kind == "own week")
        total += sum(1 for _, asks in planned for a in asks if a.kind in SHORT_UNANSWERABLE)
    bar = quality.tqdm(total=total, desc="questions", unit=" q")
    for job, asks in planned:
        half = quality.week_half(job.group, weeks) if job.group in weeks else ""
        done = run_library(job, asks, cache, half, args.short_forms, args.learned)
        records.extend(done)
        bar.update(len(done))  # type: ignore[attr-defined]
    bar.close()  # type: ignore[attr-defined]
    return records


# -- fitting -----------------------------------------------------------------------------------


def logistic_fit(
    X: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float, steps: int = 4000
) -> np.ndarray:
    """Bias and weights minimising the weighted logistic loss plus an L2 term (Adam from zero)."""
    Xb = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(Xb.shape[1])
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    weight = weight / weight.sum()
    for step in range(1, steps + 1):
        p = 1 / (1 + np.exp(-(Xb @ w)))
        grad = Xb.T @ (weight * (p - y)) + 2 * l2 * np.r_[0.0, w[1:]]
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w


def cut_for(scores: np.ndarray, keep: float) -> float:
    """The highest cut that keeps at least `keep` of these scores (score >= cut)."""
    ordered = np.sort(scores)
    return float(ordered[int(np.floor((1 - keep) * len(ordered)))]) if len(ordered) else 0.0


@dataclass
class Decider:
    name: str
    score: np.ndarray
    """Per record: higher is more answerable."""
    cut: float

    def answerable(self, records: list[Record]) -> np.ndarray:
        return np.array([not r.small_talk for r in records]) & (self.score >= self.cut)


OFF = ("missing", "title")
"""Signals measured and left out of the model (see docs/quality.md): the idf share of every
absent term sank short questions whose verb the article words differently ("describe")."""
WEIGHT = {"own week": 0.25, "general": 1.0, "next week": 0.25, "half a year away": 0.25, "xquad": 0.25}
"""Each kind's share of the fit: the answerable questions against the general ones, and the other
kinds (which the top score alone already separates better) a quarter as much."""


def fit(
    records: list[Record], l2: float, drop: tuple[str, ...] = (), cosine: bool = False
) -> tuple[np.ndarray, float]:
    """Model weights (bias first) fitted on the first half, and the cut of its logit; with `cosine`,
    the learned stage's cosine is one of the signals (records made with --cosine)."""
    X = np.array([r.signals for r in records])
    off = (*OFF, *drop) if cosine else (*OFF, *drop, "cosine")
    X[:, [SIGNAL_NAMES.index(n) for n in off]] = 0.0
    train = np.array([r.half == "first" and not r.small_talk for r in records])
    positive = np.array([r.kind == "own week" and r.rank is not None for r in records])
    negative = np.array([r.kind in UNANSWERABLE for r in records])
    use = train & (positive | negative)
    weight = np.zeros(len(records))
    for kind in KINDS:
        mask = use & np.array([r.kind == kind for r in records])
        if kind == "own week":
            mask &= positive
        if mask.any():
            weight[mask] = WEIGHT[kind] / mask.sum()
    # Fitted on standardised signals (so that the L2 penalty weighs each alike), then written back
    # as weights of the signals themselves.
    mean = X[use].mean(axis=0)
    scale = X[use].std(axis=0)
    scale[scale == 0] = 1.0
    w = logistic_fit((X[use] - mean) / scale, positive[use].astype(float), weight[use], l2)
    w = np.r_[w[0] - float(np.sum(w[1:] * mean / scale)), w[1:] / scale]
    logits = w[0] + X @ w[1:]
    cut = cut_for(logits[train & positive], KEEP)
    return w, cut


def model_of(w: np.ndarray, cut: float) -> Model:
    return Model(
        bias=round(float(w[0] - cut), 2),
        **{n: round(float(x), 2) for n, x in zip(SIGNAL_NAMES, w[1:], strict=True)},
    )


def model_scores(records: list[Record], model: Model) -> np.ndarray:
    return np.array([model.logit(Signals(*r.signals)) for r in records])


def decisions(records: list[Record], model: Model) -> np.ndarray:
    """The model's whole decision (small libraries included), as `Store.search` makes it."""
    return np.array(
        [
            not r.small_talk
            and r.inputs is not None
            and bool(r.inputs[6])
            and model.answerable(
                Signals(*r.signals), r.inputs[4], len(set(r.inputs[1])), is_keyword_search(r.question)
            )
            for r in records
        ]
    )


def baseline(records: list[Record], keep: float) -> Decider:
    """A cut on the top passage's score alone, keeping `keep` of the fitting half's answerable."""
    scores = np.array([r.top_score for r in records])
    train = np.array([r.half == "first" and r.kind == "own week" and r.rank is not None for r in records])
    return Decider(f"baseline: top score >= cut, keeps {keep:.1%}", scores, cut_for(scores[train], keep))


# -- the table ---------------------------------------------------------------------------------


def cells(records: list[Record], decided: np.ndarray) -> dict[str, str]:
    """abstain per kind, kept, and R@1 / R@3 of what is shown as an answer (over every own-week
    question, and over those marked answerable), on the second half."""
    out: dict[str, str] = {}
    second = np.array([r.half == "second" for r in records])
    for kind in KINDS:
        mask = second & np.array([r.kind == kind for r in records])
        out[f"abstain, {kind}"] = f"{1 - decided[mask].mean():.3f}" if mask.any() else "-"
    own = second & np.array([r.kind == "own week" for r in records])
    in_top = own & np.array([r.rank is not None for r in records])
    out["kept"] = f"{decided[in_top].mean():.3f}" if in_top.any() else "-"
    for kind in SHORT_FORMS.values():
        short = second & np.array([r.kind == kind and r.rank is not None for r in records])
        if short.any():
            out[f"kept, as its {kind.removeprefix('own week, ')}"] = f"{decided[short].mean():.3f}"
    for kind in SHORT_UNANSWERABLE.values():
        mask = second & np.array([r.kind == kind for r in records])
        if mask.any():
            out[f"abstain, {kind}"] = f"{1 - decided[mask].mean():.3f}"
    ranks = [r.rank for r, m in zip(records, own, strict=True) if m]
    shown = [d for d, m in zip(decided, own, strict=True) if m]
    n = max(len(ranks), 1)
    r1 = sum(1 for r, d in zip(ranks, shown, strict=True) if d and r == 1) / n
    r3 = sum(1 for r, d in zip(ranks, shown, strict=True) if d and r is not None) / n
    out["answered R@1 / R@3"] = f"{r1:.3f} / {r3:.3f}"
    # The same among the questions marked answerable: how often an answer given is in the top 3.
    given = [r for r, d in zip(ranks, shown, strict=True) if d]
    if given:
        g1 = sum(1 for r in given if r == 1) / len(given)
        g3 = sum(1 for r in given if r is not None) / len(given)
        out["R@1 / R@3 of the questions answered"] = f"{g1:.3f} / {g3:.3f}"
    else:
        out["R@1 / R@3 of the questions answered"] = "-"
    for seed in SEEDS:
        mask = np.array([r.kind == seed for r in records])
        out[f"{seed}: answerable"] = f"{int(decided[mask].sum())}/{int(mask.sum())}" if mask.any() else "-"
    return out


def table(records: list[Record], deciders: list[tuple[str, np.ndarray]]) -> str:
    everything = np.ones(len(records), dtype=bool)
    rows = [("no decision (every question answered)", everything), *deciders]
    columns = {name: cells(records, decided) for name, decided in rows}
    names = list(next(iter(columns.values())))
    second = [r for r in records if r.half == "second"]
    counts = {kind: sum(1 for r in second if r.kind == kind) for kind in KINDS}
    lines = ["| measure (second half of the weeks) | " + " | ".join(name for name, _ in rows) + " |"]
    lines.append("|---|" + "---|" * len(rows))
    for measure in names:
        label = measure
        for kind, count in counts.items():
            if measure == f"abstain, {kind}":
                label = f"{measure} ({count})"
        lines.append(f"| {label} | " + " | ".join(columns[name][measure] for name, _ in rows) + " |")
    return "\n".join(lines)


def cost(records: list[Record]) -> str:
    ms = [r.ms for r in records if r.ms > 0]
    cpu = [r.cpu_ms for r in records if r.ms > 0]
    if not ms:
        return "Decision cost: not measured."
    return (
        f"Decision cost per question (Store.search's answerability step, {len(ms)} questions): "
        f"{statistics.median(ms):.2f} ms p50, {quality.percentile(ms, 0.95):.2f} ms p95 wall clock; "
        f"{statistics.median(cpu):.2f} ms p50, {quality.percentile(cpu, 0.95):.2f} ms p95 CPU time of "
        "the searching thread (the wall clock counts the time other processes held the cores)."
    )


RESAMPLES = 2000
"""Bootstrap resamples of the held-out half's clusters, for the intervals."""
GOALS = {"next week": 0.90, "half a year away": 0.90, "xquad": 0.95, "general": 0.95, "kept": 0.97}
"""The issue's goals, printed beside the intervals."""


def cluster_of(record: Record) -> str:
    """What a record's figure shares with others: its library (questions asked of one library
    share its passages), or, for a general question, the question itself (each is asked of a dozen
    libraries, so the held-out half holds 92 different ones, not 1,200)."""
    return record.question if record.kind == "general" else record.group


def interval(
    records: list[Record], decided: np.ndarray, measure: str, rng: np.random.Generator
) -> tuple[float, float, float, int]:
    """A measure of `cells` on the second half ("kept" or an unanswerable kind's abstain) with its
    95% interval from a bootstrap over clusters (`cluster_of`), and the number of clusters."""
    hits: dict[str, list[float]] = {}
    for record, shown in zip(records, decided, strict=True):
        if record.half != "second":
            continue
        if measure == "kept" and record.kind == "own week" and record.rank is not None:
            hits.setdefault(cluster_of(record), []).append(float(shown))
        elif record.kind == measure:
            hits.setdefault(cluster_of(record), []).append(1.0 - float(shown))
    if not hits:
        return float("nan"), float("nan"), float("nan"), 0
    sums = np.array([sum(v) for v in hits.values()])
    counts = np.array([len(v) for v in hits.values()])
    picks = rng.integers(0, len(hits), size=(RESAMPLES, len(hits)))
    shares = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(shares, [2.5, 97.5])
    return float(sums.sum() / counts.sum()), float(low), float(high), len(hits)


def intervals(records: list[Record], deciders: list[tuple[str, np.ndarray]]) -> str:
    """The goals' measures with their 95% intervals, so that a gap to a goal can be told from the
    luck of which weeks and questions fell in the held-out half."""
    names = " | ".join(name for name, _ in deciders)
    lines = [
        f"| measure (second half), 95% interval over clusters | clusters | goal | {names} |",
        "|---|---|---|" + "---|" * len(deciders),
    ]
    for measure, goal in GOALS.items():
        found = []
        clusters = 0
        for _, decided in deciders:
            # The same resamples for every column, so that the columns compare like with like.
            value, low, high, clusters = interval(records, decided, measure, np.random.default_rng(0))
            found.append(f"{value:.3f} ({low:.3f}-{high:.3f})")
        label = measure if measure == "kept" else f"abstain, {measure}"
        lines.append(f"| {label} | {clusters} | {goal:.2f} | " + " | ".join(found) + " |")
    return "\n".join(lines)


def has_cosines(records: list[Record]) -> bool:
    """Whether every searched record carries the learned stage's cosine (--cosine or --learned)."""
    searched = [r.inputs for r in records if r.inputs]
    return bool(searched) and all(
        len(i) > 7 and isinstance(i[7], dict) and i[7].get("cosine") is not None for i in searched
    )


def add_cosines(records: list[Record], batch: int = 64) -> None:
    """The learned stage's cosine of each question with its shown passages (the `rerank` extra's
    encoder, as a Store opened with it computes it), into each record's candidates."""
    wanted = [r for r in records if r.inputs and len(r.inputs) > 7 and isinstance(r.inputs[7], dict)]
    texts = list(dict.fromkeys(t for r in wanted for t in [r.question, *r.inputs[6]]))  # type: ignore[index]
    encoder = quality._encoder()
    bar = quality.tqdm(total=len(texts), desc="encoding", unit=" texts")
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        vectors.update(zip(chunk, np.asarray(encoder.encode(chunk), dtype=np.float32), strict=True))
        bar.update(len(chunk))  # type: ignore[attr-defined]
    bar.close()  # type: ignore[attr-defined]
    for r in wanted:
        inputs = r.inputs
        assert inputs is not None
        question = vectors[r.question]
        inputs[7]["cosine"] = max((float(vectors[t] @ question) for t in inputs[6]), default=None)


def report(records: list[Record], args: argparse.Namespace) -> str:
    w, cut = fit(records, args.l2)
    fitted = model_of(w, cut)
    shipped = answerable_module.DEFAULT_MODEL
    small = np.array([not r.small_talk for r in records])
    bases = [baseline(records, 0.98), baseline(records, KEEP), baseline(records, 0.99)]
    deciders = [
        *((f"{b.name} ({b.cut:.2f})", b.answerable(records)) for b in bases),
        ("shipped model", decisions(records, shipped)),
        ("fitted now", decisions(records, fitted)),
    ]
    with_cosine = None
    if has_cosines(records):
        w_cos, cut_cos = fit(records, args.l2, cosine=True)
        with_cosine = model_of(w_cos, cut_cos)
        deciders += [
            ("shipped, with the learned cosine", decisions(records, answerable_module.COSINE_MODEL)),
            ("fitted now, with the learned cosine", decisions(records, with_cosine)),
        ]
    sure = [(name, decided) for name, decided in deciders if name.startswith("shipped")]
    lines = [table(records, deciders), "", cost(records), "", intervals(records, sure)]
    if args.ablate:
        lines += ["", "Each signal switched off and the model refitted (second half):"]
        for name in (n for n in SIGNAL_NAMES if n not in (*OFF, "cosine")):
            w_off, cut_off = fit(records, args.l2, drop=(name,))
            X = np.array([r.signals for r in records])
            X[:, SIGNAL_NAMES.index(name)] = 0.0
            decided = small & (w_off[0] + X @ w_off[1:] >= cut_off)
            c = cells(records, decided)
            lines.append(
                f"  without {name:14} "
                + " · ".join(
                    f"{k.replace('abstain, ', '')} {c[k]}" for k in c if k.startswith(("abstain", "kept"))
                )
            )
    lines += ["", "fitted on the first half of the weeks:", repr(fitted)]
    if with_cosine is not None:
        lines += ["", "... and with the learned stage's cosine:", repr(with_cosine)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=quality.DEFAULT_DATA, help="evaluation data folder")
    parser.add_argument(
        "--sample", type=Path, default=quality.DEFAULT_SAMPLE, help="the seed questions' article"
    )
    parser.add_argument("--cache", type=Path, help="keep built libraries here and reuse them (as quality.py)")
    parser.add_argument(
        "--load", type=Path, help="records of an earlier run: fit and report without searching"
    )
    parser.add_argument(
        "--out", type=Path, help="per-question records (default benchmarks/results/answerability-TIME.json)"
    )
    parser.add_argument(
        "--general-per-week",
        type=int,
        default=30,
        help="general questions asked of each week, taken in turn from its half's (default 30)",
    )
    parser.add_argument("--l2", type=float, default=0.001, help="L2 penalty of the logistic fit")
    parser.add_argument("--ablate", action="store_true", help="refit with each signal switched off")
    parser.add_argument(
        "--short-forms",
        action="store_true",
        help="also ask each own-week question as its three and its two rarest words, and report the share of those "
        "(answer still in the top 3) kept answerable; never fitted on",
    )
    parser.add_argument(
        "--cosine",
        action="store_true",
        help="also fit and report a model with the learned stage's cosine of the question with the shown "
        "passages (needs the rerank extra; encodes every question and shown passage, about 20 a second "
        "a thread); the records with cosines go to --out",
    )
    parser.add_argument(
        "--learned",
        action="store_true",
        help="search with the learned stage on (the rerank extra), as a store opened with its encoder does: it "
        "orders the shown passages, and the cosine is recorded as it searches; passages lacking vectors get them "
        "on first use and keep them in the cached libraries (CLIPPINGS_ENCODER_THREADS sets the threads)",
    )
    parser.add_argument(
        "--small-libraries",
        action="store_true",
        help="instead, ask small libraries (1, 3, 7 and 15 articles of a week: a new server's first ones) and "
        "report the decision there by size",
    )
    args = parser.parse_args(argv)
    if args.small_libraries:
        return main_small(args)
    if args.load:
        records = [Record(**r) for r in json.loads(args.load.read_text(encoding="utf-8"))["records"]]
    else:
        records = collect(args)
    if args.cosine and not has_cosines(records):
        add_cosines(records)
    if not args.load or (args.cosine and args.out):
        out = args.out or quality.RESULTS / f"answerability-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"records": [r.__dict__ for r in records]}, ensure_ascii=False), encoding="utf-8"
        )
        print(f"Per-question records: {out}")
    recompute(records)
    print(report(records, args))
    return 0


def main_small(args: argparse.Namespace) -> int:
    if args.load:
        records = [Record(**r) for r in json.loads(args.load.read_text(encoding="utf-8"))["records"]]
        recompute(records)
    else:
        records = collect_small(args)
        out = args.out or quality.RESULTS / f"answerability-small-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"records": [r.__dict__ for r in records]}, ensure_ascii=False), encoding="utf-8"
        )
        print(f"Per-question records: {out}")
    print(small_table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
