"""Speed at scale: Clippings against plain rank-bm25, SQLite FTS5 and tantivy at 10k, 100k and 1M passages.

    python benchmarks/speed.py --quick        # a few minutes once the base library exists
    python benchmarks/speed.py                # the full run (ingests the whole corpus first)

Libraries of 10k, 100k and 1M passages are made from the real corpus (`--articles`, JSON lines,
gzip allowed). The corpus holds about 26k articles (about 580k passages), so the 1M library repeats
articles past the end of the corpus with new ids (copied at the SQL level: the same text and the
same stored term ids, under new article and passage ids). Queries are 200 windows of 3 to 6
consecutive terms of the questions in `--questions`, through the real question tokenizer
(`index.ingest.text.question_terms`), chosen with a fixed seed.

Every engine at every size runs in its own subprocess, so that its peak RSS is its own. Timings are
medians (p50) and 95th percentiles over the queries of one run. rank-bm25, FTS5 and tantivy are given
the stored passages (rank-bm25 the stored term ids, so its build time leaves out tokenizing); FTS5
and tantivy are optional (`pip install tantivy`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

DEFAULT_ARTICLES = REPO.parent / "shared" / "eval" / "realtimeqa" / "articles.jsonl.gz"
DEFAULT_QUESTIONS = REPO.parent / "shared" / "eval" / "realtimeqa" / "questions_dev.jsonl"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "clippings-speed"
"""Outside the repository: the libraries made here hold the evaluation corpus."""
SIZES = (10_000, 100_000, 1_000_000)
QUERIES = 200
TOP = 10


# -- helpers -----------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peer_figures(built: float, times: list[float], **more: float) -> dict:
    """What every peer worker reports: build time, ranking p50/p95, query count, peak RSS, and more."""
    return {
        "build_s": built,
        "rank_p50_ms": pct(times, 50),
        "rank_p95_ms": pct(times, 95),
        "queries": len(times),
        **more,
        "peak_rss_mib": peak_rss_mib(),
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def make_queries(questions: Path, count: int = QUERIES, seed: int = 5) -> dict:
    """Windows of 3 to 6 consecutive question terms, and whole questions (for Store.search)."""
    from index.ingest.text import question_terms

    rng = random.Random(seed)
    windows, whole = [], []
    with open(questions, encoding="utf-8") as f:
        for line in f:
            question = json.loads(line)["question"]
            whole.append(question)
            terms = question_terms(question)
            size = rng.randint(3, 6)
            if len(terms) >= size:
                start = rng.randint(0, len(terms) - size)
                windows.append(terms[start : start + size])
    rng.shuffle(windows)
    rng.shuffle(whole)
    return {"windows": windows[:count], "questions": whole[:count]}


def run_worker(args: argparse.Namespace, task: str, **params) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", task, "--work", str(args.work)]
    command += ["--params", json.dumps(params)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        return {"error": f"{task} failed ({done.returncode})"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    return result


# -- building the libraries --------------------------------------------------------------------


def articles_from_corpus(path: Path, limit: int | None = None):
    """Articles through the real JSON-lines reader (cleaning included), one line at a time."""
    from index.ingest.readers import ReadFailure, articles_from_json

    with open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if limit is not None and number > limit:
                return
            for result in articles_from_json(line, f"{path.name} line {number}", lines=True):
                if not isinstance(result, ReadFailure):
                    yield result


def worker_ingest(work: Path, params: dict) -> dict:
    """End to end: read JSONL, clean, split, tokenize, store (Store.add_many, as `clippings add`)."""
    from index.store import Store

    db = Path(params["db"])
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.rmtree(str(db) + ".index", ignore_errors=True)
    started = time.perf_counter()
    store = Store(db, ranker=None)
    added = sum(
        1 for _ in store.add_many(articles_from_corpus(Path(params["articles"]), params["limit"]), "global")
    )
    store.close()
    elapsed = time.perf_counter() - started
    with sqlite3.connect(db) as conn:
        passages = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
    return {
        "articles": added,
        "passages": passages,
        "seconds": elapsed,
        "articles_per_s": added / elapsed,
        "peak_rss_mib": peak_rss_mib(),
    }


def make_library(base: Path, target: Path, passages: int) -> dict:
    """A library of about `passages` passages: whole articles of the base library in id order,
    repeated with new ids (and a suffixed hash and url) past its end. No index is built here."""
    if target.exists() and target.stat().st_mtime > base.stat().st_mtime:
        with sqlite3.connect(target) as conn:
            have = conn.execute("SELECT count(*), count(DISTINCT article_id) FROM passages").fetchone()
        if have[0] >= passages:
            return {"passages": have[0], "articles": have[1], "reused": True}
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.rmtree(str(target) + ".index", ignore_errors=True)
    from index.store import Store

    Store(base, ranker=None).close()  # an older base library is migrated first
    Store(target, ranker=None).close()  # the schema, empty
    conn = sqlite3.connect(target)
    conn.execute("ATTACH DATABASE ? AS base", (str(base),))
    counts = conn.execute("SELECT id, passage_count FROM base.articles ORDER BY id").fetchall()
    columns = {row[1] for row in conn.execute("PRAGMA base.table_info(passages)")}
    conn.execute("BEGIN")
    conn.execute("INSERT INTO terms SELECT * FROM base.terms")
    total, copy, articles = 0, 0, 0
    while total < passages:
        chosen, need = [], passages - total
        for article_id, count in counts:
            if need <= 0:
                break
            chosen.append(article_id)
            need -= count
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS pick (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM pick")
        conn.executemany("INSERT INTO pick VALUES (?)", [(a,) for a in chosen])
        offset = conn.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
        suffix = "" if copy == 0 else f"#copy{copy}"
        conn.execute(
            "INSERT INTO articles (id, library, title, url, published, author, site, source, content_hash,"
            " text, passage_count, added_at) SELECT id + ?, 'global', title, url || ?, published, author,"
            " site, source, content_hash || ?, text, passage_count, added_at FROM base.articles"
            " WHERE id IN (SELECT id FROM pick) ORDER BY id",
            (offset, suffix, suffix),
        )
        # The ranker's stored analysis too, when the base library has one (schema 3).
        extra = ", analysis" if "analysis" in columns else ""
        conn.execute(
            f"INSERT INTO passages (article_id, seq, start, end, length, terms, tfs{extra}) SELECT"
            f" article_id + ?, seq, start, end, length, terms, tfs{extra} FROM base.passages WHERE"
            " article_id IN (SELECT id FROM pick) ORDER BY article_id, seq",
            (offset,),
        )
        conn.execute(
            "INSERT INTO changes (library, article_id, action) SELECT 'global', id + ?, 'add'"
            " FROM base.articles WHERE id IN (SELECT id FROM pick) ORDER BY id",
            (offset,),
        )
        total = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        articles += len(chosen)
        copy += 1
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE base")
    conn.close()
    return {"passages": total, "articles": articles, "copies": copy, "reused": False}


# -- Clippings ------------------------------------------------------------------------------------


def worker_clippings_build(work: Path, params: dict) -> dict:
    from index.store import Store

    db = params["db"]
    shutil.rmtree(db + ".index", ignore_errors=True)
    started = time.perf_counter()
    store = Store(db, ranker=None)  # no cache: built from the stored term ids, then cached
    built = time.perf_counter() - started
    segments = [s.size for s in store.index.libraries["global"].segments]
    store.close()
    cached = Path(db + ".index")
    cache = sum(p.stat().st_size for p in cached.iterdir()) if cached.exists() else 0
    return {
        "build_s": built,
        "peak_rss_mib": peak_rss_mib(),
        "segments": segments,
        "cache_mib": cache / 2**20,
    }


def _marked(article, mark: str):
    from index.models import Article

    return Article(title=f"{article.title} {mark}", text=f"{mark}. {article.text}", url=None)


STAGES = ("tokenize", "rank", "fetch", "learned", "features", "answerable", "format", "total", "cpu")
"""The stages of one answer, in order: tokenizing the question; BM25 ranking (with the term ids'
lookup); fetching the candidates' passages and what the ranker reads of them and their articles;
the learned stage (only with an encoder); computing the features and ordering; deciding whether
the passages answer the question (`index.rank.answerable`); formatting the
reply as the bot sends it (`bot.formatting.answer_page`). `total` is the wall time of all of them,
`cpu` the process's CPU time over the same span (less sensitive to other programs on the machine)."""


def stage_times(store, questions: list[str], k: int = 3) -> dict[str, list[float]]:
    """Milliseconds of each stage of each question's whole answer (`Store.search(stages=...)`, then
    the bot's formatting); a stage a question does not go through counts 0."""
    from bot.formatting import answer_page
    from index.models import Stages

    times: dict[str, list[float]] = {name: [] for name in STAGES}
    for question in questions:
        stages = Stages()
        cpu = time.process_time()
        started = time.perf_counter()
        try:
            response = store.search(question, ["global"], k=k, stages=stages)
        except Exception:  # a question without searchable words: nothing to time
            continue
        answer_page(response)
        stages.lap("format")
        total = (time.perf_counter() - started) * 1000
        times["cpu"].append((time.process_time() - cpu) * 1000)
        for name in STAGES[:-2]:
            times[name].append(stages.ms.get(name, 0.0))
        times["total"].append(total)
    return times


def stage_summary(times: dict[str, list[float]]) -> dict[str, list[float]]:
    """p50 and p95 of each stage."""
    return {name: [pct(values, 50), pct(values, 95)] for name, values in times.items() if values}


def worker_clippings_stages(work: Path, params: dict) -> dict:
    """Only the per-stage times of whole answers (for comparing two checkouts back to back)."""
    from index.store import Store

    store = Store(params["db"])
    questions = json.loads(Path(params["queries"]).read_text())["questions"]
    stage_times(store, questions[:20])  # warm
    times = stage_times(store, questions[: params.get("count", len(questions))])
    store.close()
    return {"times": times, "stages": stage_summary(times)}


def worker_clippings_serve(work: Path, params: dict) -> dict:
    import threading

    import numpy as np

    started = time.perf_counter()
    from index.store import Store

    imported = time.perf_counter()
    store = Store(params["db"])
    opened = time.perf_counter()
    queries = json.loads(Path(params["queries"]).read_text())
    store.search(" ".join(queries["windows"][0]), ["global"])
    first = time.perf_counter()
    result = {
        "import_s": imported - started,
        "open_s": opened - imported,
        "start_to_first_answer_s": first - started,
    }
    index = store.index
    term_ids = [store.db.known_term_ids(q) for q in queries["windows"]]
    for q in term_ids[:20]:  # warm the pages of the mapped files a query touches
        index.top(["global"], q, TOP)
    times = []
    for q in term_ids:
        t = time.perf_counter()
        index.top(["global"], q, TOP)
        times.append((time.perf_counter() - t) * 1000)
    result["rank_p50_ms"], result["rank_p95_ms"] = pct(times, 50), pct(times, 95)
    # Whole answers through Store.search (question tokenizing, ranking, the ranker stage, SQLite).
    from index.rank import Ranker

    rerank = Ranker()
    for plain in (False, True):
        store.ranker = None if plain else rerank
        times = []
        for question in queries["questions"]:
            t = time.perf_counter()
            store.search(question, ["global"], k=3)
            times.append((time.perf_counter() - t) * 1000)
        key = "search_plain" if plain else "search"
        result[f"{key}_p50_ms"], result[f"{key}_p95_ms"] = pct(times, 50), pct(times, 95)
    store.ranker = rerank
    result["stages"] = stage_summary(stage_times(store, queries["questions"]))
    # An article added while serving: searchable after (write + index update), and removal.
    samples = list(articles_from_corpus(Path(params["articles"]), 40))[-12:]
    add_ms, refresh_ms, remove_ms, batch_ms = [], [], [], []
    for i, article in enumerate(samples[:8]):
        mark = f"zqxspeedmark{i}x{os.getpid()}"
        t0 = time.perf_counter()
        added = store.add(_marked(article, mark), "global")
        t1 = time.perf_counter()
        found = store.search(mark, ["global"], k=1).hits
        t2 = time.perf_counter()
        assert found and found[0].article.id == added.article.id
        add_ms.append((t1 - t0) * 1000)
        refresh_ms.append((t2 - t1) * 1000)
        t3 = time.perf_counter()
        store.remove("global", added.article.id)
        gone = store.search(mark, ["global"], k=1).hits
        remove_ms.append((time.perf_counter() - t3) * 1000)
        assert not gone
    # About 100 passages at once.
    batch = [_marked(a, f"zqxbatch{j}x{os.getpid()}") for j, a in enumerate(samples[8:12])]
    t0 = time.perf_counter()
    results = list(store.add_many(batch, "global"))
    store.search(f"zqxbatch0x{os.getpid()}", ["global"], k=1)
    batch_ms.append((time.perf_counter() - t0) * 1000)
    batch_passages = sum(r.article.passage_count for r in results)
    for r in results:
        store.remove("global", r.article.id)
    store.refresh()
    result.update(
        add_write_ms=statistics.median(add_ms),
        add_index_ms=statistics.median(refresh_ms),
        add_searchable_ms=statistics.median(a + b for a, b in zip(add_ms, refresh_ms, strict=True)),
        add_searchable_max_ms=max(a + b for a, b in zip(add_ms, refresh_ms, strict=True)),
        remove_ms=statistics.median(remove_ms),
        batch_passages=batch_passages,
        batch_searchable_ms=batch_ms[0],
    )
    # Other threads are not held up: searches from a thread while this one adds articles.
    waits: list[float] = []
    stop = threading.Event()

    def searcher() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            index.top(["global"], term_ids[len(waits) % len(term_ids)], TOP)
            waits.append((time.perf_counter() - t) * 1000)

    thread = threading.Thread(target=searcher)
    thread.start()
    extra = list(store.add_many([_marked(a, f"zqxthread{j}") for j, a in enumerate(samples)], "global"))
    store.refresh()
    stop.set()
    thread.join()
    for r in extra:
        store.remove("global", r.article.id)
    store.refresh()
    index.wait_for_merges()
    result["thread_search_max_ms"] = max(waits) if waits else float("nan")
    result["thread_search_p50_ms"] = pct(waits, 50)
    result["passages"] = index.libraries["global"].docs
    result["mapped_mib"] = sum(s.nbytes() for s in index.libraries["global"].segments) / 2**20
    result["peak_rss_mib"] = peak_rss_mib()
    del np
    store.close()
    return result


# -- peers ------------------------------------------------------------------------------------


def _passage_rows(db: str, limit: int | None = None):
    conn = sqlite3.connect(db)
    sql = (
        "SELECT p.id, substr(a.text, p.start + 1, p.end - p.start) FROM passages p"
        " JOIN articles a ON a.id = p.article_id ORDER BY p.id"
    )
    yield from conn.execute(sql + (f" LIMIT {int(limit)}" if limit else ""))
    conn.close()


def worker_rank_bm25(work: Path, params: dict) -> dict:
    import numpy as np
    from rank_bm25 import BM25Okapi

    conn = sqlite3.connect(params["db"])
    corpus = []
    for terms, tfs in conn.execute("SELECT terms, tfs FROM passages ORDER BY id"):
        ids = np.frombuffer(terms, dtype="<u4")
        counts = np.frombuffer(tfs, dtype="<u2")
        corpus.append(np.repeat(ids, counts).tolist())
    conn.close()
    loaded = peak_rss_mib()
    started = time.perf_counter()
    bm25 = BM25Okapi(corpus)
    built = time.perf_counter() - started
    del corpus
    lookup = sqlite3.connect(params["db"])
    queries = json.loads(Path(params["queries"]).read_text())["windows"][: params["queries_n"]]
    times = []
    for q in queries:
        marks = ",".join("?" * len(set(q)))
        known = dict(lookup.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", sorted(set(q))))
        ids = [known.get(t, -1) for t in q]
        t = time.perf_counter()
        scores = bm25.get_scores(ids)
        top = np.argpartition(-scores, TOP)[:TOP]
        top[np.lexsort((top, -scores[top]))]
        times.append((time.perf_counter() - t) * 1000)
    return peer_figures(built, times, rss_before_build_mib=loaded)


def worker_fts5(work: Path, params: dict) -> dict:
    path = Path(params["fts_db"])
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    started = time.perf_counter()
    conn.execute("CREATE VIRTUAL TABLE p USING fts5(body)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO p (rowid, body) VALUES (?, ?)", _passage_rows(params["db"]))
    conn.execute("COMMIT")
    built = time.perf_counter() - started
    conn.close()
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    queries = json.loads(Path(params["queries"]).read_text())["windows"]
    sql = "SELECT rowid, bm25(p) FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?"

    def match(q: list[str]) -> str:
        return " OR ".join('"' + t.replace('"', '""') + '"' for t in q)

    conn.execute(sql, (match(queries[0]), TOP)).fetchall()
    start_s = time.perf_counter() - started
    times = []
    for q in queries[: params["queries_n"]]:
        t = time.perf_counter()
        conn.execute(sql, (match(q), TOP)).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    rows = [r[1] for r in _passage_rows(params["db"], 100)]
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO p (body) VALUES (?)", [(r,) for r in rows])
    conn.execute("COMMIT")
    add_ms = (time.perf_counter() - t) * 1000
    conn.close()
    return peer_figures(built, times, batch_searchable_ms=add_ms, start_to_first_answer_s=start_s)


def worker_tantivy(work: Path, params: dict) -> dict:
    import tantivy

    directory = Path(params["dir"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("pid", stored=True, indexed=True)
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    schema = builder.build()
    started = time.perf_counter()
    index = tantivy.Index(schema, path=str(directory))
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for pid, body in _passage_rows(params["db"]):
        writer.add_document(tantivy.Document(pid=pid, body=body))
    writer.commit()
    writer.wait_merging_threads()
    built = time.perf_counter() - started
    del writer
    started = time.perf_counter()
    index = tantivy.Index.open(str(directory))
    index.reload()
    searcher = index.searcher()
    queries = json.loads(Path(params["queries"]).read_text())["windows"]

    def parse(q: list[str]):
        return index.parse_query(" ".join('"' + t.replace('"', "") + '"' for t in q), ["body"])

    searcher.search(parse(queries[0]), TOP)
    start_s = time.perf_counter() - started
    times = []
    for q in queries[: params["queries_n"]]:
        query = parse(q)
        t = time.perf_counter()
        searcher.search(query, TOP).hits  # noqa: B018
        times.append((time.perf_counter() - t) * 1000)
    rows = [r[1] for r in _passage_rows(params["db"], 100)]
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    t = time.perf_counter()
    for i, body in enumerate(rows):
        writer.add_document(tantivy.Document(pid=10**9 + i, body=body))
    writer.commit()
    index.reload()
    index.searcher().search(parse(["zz"]), TOP)
    add_ms = (time.perf_counter() - t) * 1000
    return peer_figures(built, times, batch_searchable_ms=add_ms, start_to_first_answer_s=start_s)


WORKERS = {
    "ingest": worker_ingest,
    "clippings-build": worker_clippings_build,
    "clippings-serve": worker_clippings_serve,
    "clippings-stages": worker_clippings_stages,
    "rank-bm25": worker_rank_bm25,
    "fts5": worker_fts5,
    "tantivy": worker_tantivy,
}


# -- the report -------------------------------------------------------------------------------


def fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None or value != value:
        return "–"
    if isinstance(value, float) and value >= 100:
        digits = 0
    return f"{value:.{digits}f}{unit}"


def table(results: dict, sizes: list[int]) -> str:
    lines = []
    header = (
        "| passages | engine | build | peak RSS serving (building) | p50 / p95 query, top 10"
        " | new passages searchable after | start to first answer |"
    )
    lines += [header, "|---|---|---|---|---|---|---|"]
    for size in sizes:
        row = results.get(str(size), {})
        c, b = row.get("clippings", {}), row.get("clippings-build", {})
        if "rank_p50_ms" in c:
            lines.append(
                f"| {c.get('passages', size):,} | **Clippings** | {fmt(b.get('build_s'), ' s')} from stored"
                f" term ids | {fmt(c['peak_rss_mib'], ' MiB', 0)} ({fmt(b.get('peak_rss_mib'), ' MiB', 0)})"
                f" | {fmt(c['rank_p50_ms'], '', 2)} / {fmt(c['rank_p95_ms'], ' ms', 2)}"
                f" | 1 article: {fmt(c['add_searchable_ms'], ' ms')} ({fmt(c['add_index_ms'], ' ms')} of it"
                f" indexing); {c['batch_passages']}: {fmt(c['batch_searchable_ms'], ' ms')}"
                f" | {fmt(c['start_to_first_answer_s'], ' s', 2)} |"
            )
        for name, label in (
            ("rank-bm25", "rank-bm25 `get_scores` over all"),
            ("fts5", "SQLite FTS5 `ORDER BY bm25()`"),
            ("tantivy", "tantivy (en_stem)"),
        ):
            p = row.get(name)
            if not p or "rank_p50_ms" not in p:
                continue
            add = fmt(p.get("batch_searchable_ms"), " ms") if "batch_searchable_ms" in p else "full rebuild"
            start = (
                fmt(p.get("start_to_first_answer_s"), " s", 2)
                if "start_to_first_answer_s" in p
                else "a rebuild"
            )
            note = f" ({p['queries']} queries)" if p.get("queries", QUERIES) < QUERIES else ""
            lines.append(
                f"| | {label} | {fmt(p['build_s'], ' s')} | {fmt(p['peak_rss_mib'], ' MiB', 0)}"
                f" | {fmt(p['rank_p50_ms'], '', 2)} / {fmt(p['rank_p95_ms'], ' ms', 2)}{note}"
                f" | {add} | {start} |"
            )
    return "\n".join(lines)


def details(results: dict, sizes: list[int]) -> str:
    lines = [
        "| passages | whole answer `Store.search` (whole questions, k=3) p50 / p95: default ranker"
        " · plain BM25 | remove → gone | searches from another thread while adding: p50 / max"
        " | open from cache (in-process) | cache on disk |",
        "|---|---|---|---|---|---|",
    ]
    for size in sizes:
        row = results.get(str(size), {})
        c, b = row.get("clippings", {}), row.get("clippings-build", {})
        if "rank_p50_ms" not in c:
            continue
        lines.append(
            f"| {c.get('passages', size):,} | {fmt(c['search_p50_ms'])} / {fmt(c['search_p95_ms'], ' ms')}"
            f" · {fmt(c['search_plain_p50_ms'])} / {fmt(c['search_plain_p95_ms'], ' ms')}"
            f" | {fmt(c['remove_ms'], ' ms')} | {fmt(c['thread_search_p50_ms'], '', 2)} /"
            f" {fmt(c['thread_search_max_ms'], ' ms')} | {fmt(c['open_s'], ' s', 2)}"
            f" | {fmt(b.get('cache_mib'), ' MiB', 0)} |"
        )
    return "\n".join(lines)


def stage_table(results: dict, sizes: list[int]) -> str:
    """One answer's stages, p50 / p95 in ms, the default ranker (`Store.search` then formatting)."""
    lines = [
        "| passages | " + " | ".join(STAGES) + " |",
        "|---|" + "---|" * len(STAGES),
    ]
    for size in sizes:
        c = results.get(str(size), {}).get("clippings", {})
        stages = c.get("stages")
        if not stages:
            continue
        cells = [
            f"{fmt(stages[n][0], '', 2)} / {fmt(stages[n][1], '', 2)}" if n in stages else "–" for n in STAGES
        ]
        lines.append(f"| {c.get('passages', size):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(results: dict, sizes: list[int]) -> str:
    out = []
    for size in sizes:
        row = results.get(str(size), {})
        c = row.get("clippings", {})
        if "rank_p50_ms" not in c:
            continue
        parts = []
        for name in ("rank-bm25", "fts5", "tantivy"):
            p = row.get(name)
            if p and "rank_p50_ms" in p:
                parts.append(
                    f"{name}: p50 {p['rank_p50_ms'] / c['rank_p50_ms']:.1f}x, p95"
                    f" {p['rank_p95_ms'] / c['rank_p95_ms']:.1f}x, RSS"
                    f" {p['peak_rss_mib'] / c['peak_rss_mib']:.1f}x"
                )
        if parts:
            out.append(f"- {size:,}: Clippings against " + "; ".join(parts) + " (peer / Clippings)")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=Path, default=DEFAULT_ARTICLES)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch folder (libraries, indexes)")
    parser.add_argument("--quick", action="store_true", help="ingest 2,000 articles; peers to 100k only")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--engines", default="clippings,rank-bm25,fts5,tantivy")
    parser.add_argument("--plot", type=Path, default=None, help="write the PNG plot here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.work, json.loads(args.params))))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    say = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    queries_path = args.work / "queries.json"
    queries_path.write_text(json.dumps(make_queries(args.questions)))
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        " shared with other engineers' test runs while measuring",
        "quick": args.quick,
    }
    # Ingestion, end to end through the real path.
    base = args.work / "base.db"
    limit = 2000 if args.quick else None
    target = args.work / ("ingest-sample.db" if args.quick else "base.db")
    say(f"ingesting {'2,000 articles' if args.quick else 'the whole corpus'} ...")
    results["ingest"] = run_worker(args, "ingest", db=str(target), articles=str(args.articles), limit=limit)
    say(f"  {results['ingest']}")
    if not base.exists():
        say("no base library yet: ingesting the whole corpus once ...")
        results["base_ingest"] = run_worker(
            args, "ingest", db=str(base), articles=str(args.articles), limit=None
        )
    for size in sizes:
        row = results.setdefault(str(size), {})
        db = args.work / f"lib-{size}.db"
        row["library"] = make_library(base, db, size)
        say(f"{size:,} passages: {row['library']}")
        common = {"db": str(db), "queries": str(queries_path), "articles": str(args.articles)}
        if "clippings" in engines:
            row["clippings-build"] = run_worker(args, "clippings-build", **common)
            row["clippings"] = run_worker(args, "clippings-serve", **common)
            say(f"  clippings {row['clippings-build']}\n  {row['clippings']}")
        if "rank-bm25" in engines and (size <= 100_000 or not args.quick):
            n = QUERIES if size <= 100_000 and not args.quick else 20
            row["rank-bm25"] = run_worker(args, "rank-bm25", queries_n=n, **common)
            say(f"  rank-bm25 {row['rank-bm25']}")
        if "fts5" in engines and (size <= 100_000 or not args.quick):
            row["fts5"] = run_worker(
                args, "fts5", fts_db=str(args.work / f"fts-{size}.db"), queries_n=QUERIES, **common
            )
            say(f"  fts5 {row['fts5']}")
        if "tantivy" in engines:
            try:
                import tantivy  # noqa: F401

                row["tantivy"] = run_worker(
                    args, "tantivy", dir=str(args.work / f"tantivy-{size}"), queries_n=QUERIES, **common
                )
                say(f"  tantivy {row['tantivy']}")
            except ImportError:
                say("  tantivy is not installed (pip install tantivy); skipped")
    (args.work / "speed.json").write_text(json.dumps(results, indent=1))
    ingest = results["ingest"]
    print(f"Machine: {results['machine']}.")
    print(
        f"Ingestion (read JSONL, clean, split, tokenize, store; Store.add_many): {ingest.get('articles', 0):,}"
        f" articles, {ingest.get('passages', 0):,} passages in {fmt(ingest.get('seconds'), ' s')}:"
        f" {fmt(ingest.get('articles_per_s'), ' articles/s')}, peak RSS {fmt(ingest.get('peak_rss_mib'), ' MiB', 0)}."
    )
    print()
    print(table(results, sizes))
    print()
    print(details(results, sizes))
    print()
    print("One answer by stage, p50 / p95 ms (whole questions, default ranker, k=3):")
    print(stage_table(results, sizes))
    print()
    print(ratios(results, sizes))
    if args.plot:
        from plot_speed import plot

        plot(results, sizes, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
