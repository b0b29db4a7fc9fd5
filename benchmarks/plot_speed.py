"""The plot of benchmarks/speed.py: query latency and peak memory against passages, log scales."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ENGINES = (
    ("clippings", "Clippings"),
    ("rank-bm25", "rank-bm25 get_scores"),
    ("fts5", "SQLite FTS5"),
    ("tantivy", "tantivy"),
)


def plot(results: dict, sizes: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label in ENGINES:
        xs, p50, p95, rss = [], [], [], []
        for size in sizes:
            r = results.get(str(size), {}).get(key)
            if not r or "rank_p50_ms" not in r:
                continue
            xs.append(r.get("passages") or results[str(size)]["library"]["passages"])
            p50.append(r["rank_p50_ms"])
            p95.append(r["rank_p95_ms"])
            rss.append(r["peak_rss_mib"])
        if not xs:
            continue
        line = left.plot(xs, p50, marker="o", label=f"{label} p50")[0]
        left.plot(xs, p95, marker="x", linestyle="--", color=line.get_color(), label=f"{label} p95")
        right.plot(xs, rss, marker="o", color=line.get_color(), label=label)
    left.set(xscale="log", yscale="log", xlabel="passages", ylabel="query latency, top 10 (ms)")
    right.set(xscale="log", yscale="log", xlabel="passages", ylabel="peak RSS while serving (MiB)")
    left.axhline(3, color="grey", linewidth=0.6, linestyle=":")
    left.axhline(10, color="grey", linewidth=0.6, linestyle=":")
    right.axhline(1024, color="grey", linewidth=0.6, linestyle=":")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    left.grid(True, which="both", alpha=0.2)
    right.grid(True, which="both", alpha=0.2)
    fig.suptitle("Clippings and peers, one engine per process (2 cores, shared machine)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    found = sorted(int(k) for k in data if k.isdigit())
    plot(data, found, Path(sys.argv[2]))
