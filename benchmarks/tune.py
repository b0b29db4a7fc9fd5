"""Fit the ranker's feature weights on the first halves of dev and XQuAD, and check the rest.

    python benchmarks/tune.py dump --cache /tmp/qcache --out /tmp/features.npz   # the features, once
    python benchmarks/tune.py fit /tmp/features.npz                                # fit and compare
    python benchmarks/tune.py fit /tmp/features.npz --ablate                       # each idea refitted away
    python benchmarks/tune.py dump --learned ...                                   # with the learned stage

`dump` asks every question of benchmarks/quality.py (dev, strict dev, XQuAD, the seed questions) of
its library (built by `quality.py --cache`) through `Store.search`, and keeps, for BM25's first
`CANDIDATES` passages, the feature vector `index.rank.features` gives each one and whether it
holds an answer (the quality hit rule). With `--learned` (the rerank extra) the similarity feature
is filled too. `fit` then scores those candidates with any weights in milliseconds: it prints R@1 /
R@3 / MRR@10 of BM25's order, of the shipped weights and of weights fitted (a listwise softmax loss
with an L2 penalty) on the first half of the dev weeks and of the XQuAD questions only, with the
second halves, strict dev and the seed questions as the checks. It prints the fitted weights for
`index.rank` (DEFAULT, and LEARNED from a `--learned` dump); quality.py is the final word.

The evaluation data is internal: the dump lives outside the repository (pass --out).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import quality  # noqa: E402  (benchmarks/quality.py, beside this file)

from index import rank as rerank  # noqa: E402
from index.rank.ranker import RankingSource  # noqa: E402
from index.store import Store  # noqa: E402

NAMES = list(rerank.FEATURE_NAMES)
FEATURES = replace(rerank.DEFAULT, **{n: 1.0 for n in NAMES if not getattr(rerank.DEFAULT, n)})
"""Every feature computed (some are skipped when their weight is 0)."""


class Capture:
    """A ranker that records each question's candidates and features, and ranks as the default."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.candidates = depth
        self.ranker = rerank.Ranker(candidates=depth)
        self.last: tuple[list[str], np.ndarray] | None = None

    def __call__(self, source: RankingSource, question: str, libraries: list[str], hits: list) -> list:
        hits = rerank.dedupe(hits)[: self.depth]
        if not hits:
            self.last = ([], np.zeros((0, len(NAMES))))
            return hits
        terms, idf, candidates = self.ranker.prepare(source, question, libraries, hits)
        if source.has_encoder:  # dump --learned: the learned stage's similarity feature too
            rerank.add_similarities(source, question, hits, terms, candidates)
        rows = rerank.features(question, terms, idf, candidates, FEATURES, self.ranker.stems(FEATURES))
        self.last = ([h.passage.text for h in hits], np.array([r.vector() for r in rows], dtype=np.float64))
        return hits


def dump(args: argparse.Namespace) -> int:
    plan_args = argparse.Namespace(
        data=args.data,
        splits=list(quality.SPLITS),
        half=None,
        limit=args.limit,
        sample=quality.DEFAULT_SAMPLE,
    )
    jobs, info = quality.plan(plan_args)
    encoder = None
    if args.learned:
        from index.rank.semantic import load_encoder

        encoder = load_encoder()
    weeks = info.get("dev_weeks", [])
    cache = quality.cache_folder(args.cache) if args.cache else None
    X = np.zeros((0, args.depth, len(NAMES)))
    rows_x, rows_y, splits, halves, questions = [], [], [], [], []
    passages: list[list[str]] = []
    answers: list[list[str]] = []
    for job in quality.tqdm(jobs, desc="libraries", unit=" library"):
        path = (cache / f"{quality._safe(job.group)}.db") if cache else None
        if path is None or not path.exists():
            sys.exit(
                "dump needs built libraries: run quality.py --cache DIR once, and pass the same --cache."
            )
        capture = Capture(args.depth)
        with Store(path, ranker=capture, encoder=encoder) as store:
            for q in job.questions:
                capture.last = None
                quality._timed_search(store, q.question)
                texts, x = capture.last or ([], np.zeros((0, len(NAMES))))
                y = np.array([quality.first_hit([t], q.answers) == 1 for t in texts], dtype=bool)
                passages.append(texts)
                answers.append(q.answers)
                rows_x.append(x)
                rows_y.append(y)
                splits.append(q.split)
                halves.append(quality.week_half(q.group, weeks) if q.group in weeks else "")
                questions.append(q.question)
    X = np.zeros((len(rows_x), args.depth, len(NAMES)))
    Y = np.zeros((len(rows_x), args.depth), dtype=bool)
    mask = np.zeros((len(rows_x), args.depth), dtype=bool)
    for i, (x, y) in enumerate(zip(rows_x, rows_y, strict=True)):
        X[i, : len(x)] = x
        Y[i, : len(y)] = y
        mask[i, : len(y)] = True
    np.savez_compressed(
        args.out,
        X=X,
        Y=Y,
        mask=mask,
        split=np.array(splits),
        half=np.array(halves),
        question=np.array(questions),
        names=np.array(NAMES),
    )
    # The candidates' text, to read the misses.
    args.out.with_suffix(".json").write_text(json.dumps({"passages": passages, "answers": answers}))
    print(f"{len(rows_x)} questions, {args.depth} candidates, {len(NAMES)} features -> {args.out}")
    return 0


# -- fitting ----------------------------------------------------------------------------------


def first_ranks(X: np.ndarray, Y: np.ndarray, mask: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """The 1-based rank of each question's first answering candidate (0 when none is there)."""
    n, depth = Y.shape
    bm25_order = -np.broadcast_to(np.arange(depth, dtype=np.float64), (n, depth))
    scores = np.where(mask, bm25_order if w is None else X @ w, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")
    hits = np.take_along_axis(Y, order, axis=1)
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1) + 1, 0)


def summary(ranks: np.ndarray) -> tuple[float, float, float]:
    if len(ranks) == 0:
        return (0.0, 0.0, 0.0)
    r1 = float(np.mean(ranks == 1))
    r3 = float(np.mean((ranks >= 1) & (ranks <= 3)))
    mrr = float(np.mean(np.where((ranks >= 1) & (ranks <= 10), 1.0 / np.maximum(ranks, 1), 0.0)))
    return r1, r3, mrr


def softmax_fit(X: np.ndarray, Y: np.ndarray, mask: np.ndarray, l2: float, steps: int = 3000) -> np.ndarray:
    """Weights minimising the listwise softmax loss -log P(an answering candidate) plus an L2 term
    (Adam from zero; questions with no answering candidate teach nothing and are left out)."""
    keep = (Y & mask).any(axis=1)
    X, Y, mask = X[keep], Y[keep], mask[keep]
    w = np.zeros(X.shape[2])
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step in range(1, steps + 1):
        s = np.where(mask, X @ w, -np.inf)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        p_all = e / e.sum(axis=1, keepdims=True)
        e_hit = np.where(Y, e, 0.0)
        p_hit = e_hit / e_hit.sum(axis=1, keepdims=True)
        grad = np.einsum("qc,qcf->f", p_all - p_hit, X) / len(X) + 2 * l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w


def fit(args: argparse.Namespace) -> int:
    data = np.load(args.dump)
    X, Y, mask = data["X"].copy(), data["Y"], data["mask"]
    split, half, names = data["split"], data["half"], [str(n) for n in data["names"]]
    if names != NAMES:
        sys.exit("The dump's features differ from index.rank's: run dump again.")
    X[:, :, [names.index(n) for n in args.drop]] = 0.0
    semantic = names.index("semantic")
    learned = bool(np.any(X[:, :, semantic]))  # a dump --learned holds the similarity feature
    xquad = np.flatnonzero(split == "xquad")
    xquad_first = np.zeros(len(split), dtype=bool)
    xquad_first[xquad[: len(xquad) // 2]] = True
    dev_first = (split == "dev") & (half == "first")
    groups = {
        "fit on": dev_first | xquad_first,
        "dev 2nd half": (split == "dev") & (half == "second"),
        "dev": split == "dev",
        "strict": split == "strict",
        "XQuAD 2nd half": (split == "xquad") & ~xquad_first,
        "XQuAD": split == "xquad",
        "seeds alone": split == "seeds alone",
        "seeds among 150": split == "seeds among 150",
    }
    train = groups["fit on"]
    lexical = X.copy()
    lexical[:, :, semantic] = 0.0
    fits = {"lexical": softmax_fit(lexical[train], Y[train], mask[train], args.l2)}
    systems: dict[str, np.ndarray | None] = {
        "BM25 order": None,
        "shipped DEFAULT": np.array([getattr(rerank.DEFAULT, n) for n in NAMES]),
        "fitted lexical": np.round(fits["lexical"], 2),
    }
    if learned:
        fits["learned"] = softmax_fit(X[train], Y[train], mask[train], args.l2)
        systems["shipped LEARNED"] = np.array([getattr(rerank.LEARNED, n) for n in NAMES])
        systems["fitted learned"] = np.round(fits["learned"], 2)
    print(f"{'R@1/R@3/MRR':18}" + "".join(f"{g:>20}" for g in groups))
    for name, w in systems.items():
        cells = [
            "/".join(f"{v:.3f}" for v in summary(first_ranks(X[g], Y[g], mask[g], w)))
            for g in groups.values()
        ]
        print(f"{name:18}" + "".join(f"{c:>20}" for c in cells))
    if args.ablate:
        print("\nEach idea switched off and the rest refitted (lexical; change in points of R@1/R@3/MRR):")
        reference = {
            name: summary(first_ranks(lexical[g], Y[g], mask[g], fits["lexical"]))
            for name, g in groups.items()
        }
        for idea, change in rerank.ABLATIONS.items():
            off = [n for n, v in change.items() if v == 0.0 and not isinstance(v, bool)]
            if not off:
                print(f"{idea:44} (a switch: needs its own dump)")
                continue
            X_off = lexical.copy()
            X_off[:, :, [names.index(n) for n in off]] = 0.0
            w = softmax_fit(X_off[train], Y[train], mask[train], args.l2)
            cells = []
            for name, g in groups.items():
                now = summary(first_ranks(X_off[g], Y[g], mask[g], w))
                cells.append(
                    "/".join(f"{100 * (a - b):+.1f}" for a, b in zip(now, reference[name], strict=True))
                )
            print(f"{idea:44}" + "".join(f"{c:>20}" for c in cells))
    print(f"\nfit on the first half of the dev weeks and of XQuAD (l2 {args.l2}):")
    for name, fitted in fits.items():
        print(
            f"{name}: Weights(" + ", ".join(f"{n}={v:.2f}" for n, v in zip(names, fitted, strict=True)) + ")"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser("dump", help="compute every question's candidates and features")
    d.add_argument("--data", type=Path, default=quality.DEFAULT_DATA, help="evaluation data folder")
    d.add_argument("--cache", type=Path, required=True, help="the libraries quality.py --cache built")
    d.add_argument("--out", type=Path, required=True, help="where to write the features (.npz)")
    d.add_argument("--depth", type=int, default=rerank.CANDIDATES, help="candidates per question")
    d.add_argument("--limit", type=int, default=0, help="only the first N questions of each split")
    d.add_argument(
        "--learned",
        action="store_true",
        help="also the learned stage's similarity (the rerank extra; passages lacking vectors get them, "
        "about 40 a second, and keep them in the cached libraries); fit then fits the LEARNED weights too",
    )
    f = commands.add_parser("fit", help="fit weights on the dump and compare them")
    f.add_argument("dump", type=Path)
    f.add_argument("--l2", type=float, default=0.001, help="L2 penalty of the softmax fit")
    f.add_argument("--drop", nargs="*", default=[], help="features to switch off")
    f.add_argument("--ablate", action="store_true", help="refit with each ranking idea switched off")
    args = parser.parse_args(argv)
    return dump(args) if args.command == "dump" else fit(args)


if __name__ == "__main__":
    sys.exit(main())
