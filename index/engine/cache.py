"""The on-disk index cache: segment files (memory-mapped at start), per-library state, and the
manifest naming them and the change-log position they reflect.

The database stays the source of truth: a cache that is missing, stale beyond the change log, from
another database or corrupt (checked by size and CRC-32) is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .search_index import SearchIndex
from .segments import DOC_DTYPE, TF_DTYPE, Segment

log = logging.getLogger(__name__)

CACHE_FORMAT = 2

SEGMENT_ARRAYS = (
    "passage_ids",
    "article_ids",
    "doc_len",
    "term_ids",
    "term_starts",
    "docs",
    "tfs",
    "max_tf",
    "min_dl",
    "ub_ref",
    "ref",
)
_ALIGN = 64


def write_segment(segment: Segment, path: Path) -> dict:
    """Write a segment's arrays to one file (atomically: a temporary file, fsync, rename) and
    return its layout: {"bytes", "crc", "arrays": {name: [offset, dtype, length]}}."""
    tmp = path.with_name(path.name + ".tmp")
    layout: dict[str, list] = {}
    offset = 0
    crc = 0
    with open(tmp, "wb") as f:
        for name in SEGMENT_ARRAYS:
            array = np.ascontiguousarray(getattr(segment, name))
            pad = b"\0" * ((-offset) % _ALIGN)
            f.write(pad)
            crc = zlib.crc32(pad, crc)
            offset += len(pad)
            layout[name] = [offset, array.dtype.str, len(array)]
            view = array.data.cast("B") if array.nbytes else b""
            f.write(view)
            crc = zlib.crc32(view, crc)
            offset += array.nbytes
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"bytes": offset, "crc": crc, "arrays": layout}


def file_crc(path: Path, chunk: int = 8 << 20) -> int:
    """CRC-32 of a file, read through the page cache (so it does not add to this process's RSS)."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


def read_segment(path: Path, layout: dict, alive: np.ndarray, verify: bool = True) -> Segment:
    """Memory-map a segment file written by `write_segment`. Raises ValueError if the file does not
    match its layout (size, checksum, array shapes)."""
    size = path.stat().st_size
    if size != layout["bytes"]:
        raise ValueError(f"{path.name}: {size} bytes, expected {layout['bytes']}")
    if verify and file_crc(path) != layout["crc"]:
        raise ValueError(f"{path.name}: checksum mismatch")
    raw = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
    arrays = {}
    for name in SEGMENT_ARRAYS:
        offset, dtype, length = layout["arrays"][name]
        dtype = np.dtype(dtype)
        end = offset + dtype.itemsize * length
        if offset % _ALIGN or (end > size and length):
            raise ValueError(f"{path.name}: array {name} out of bounds")
        arrays[name] = raw[offset:end].view(np.ndarray).view(dtype) if length else np.zeros(0, dtype=dtype)
    n, n_terms = len(arrays["passage_ids"]), len(arrays["term_ids"])
    if (
        len(arrays["article_ids"]) != n
        or len(arrays["doc_len"]) != n
        or len(alive) != n
        or len(arrays["term_starts"]) != n_terms + 1
        or len(arrays["max_tf"]) != n_terms
        or len(arrays["min_dl"]) != n_terms
        or len(arrays["ub_ref"]) != n_terms
        or len(arrays["ref"]) != 3
        or int(arrays["term_starts"][0]) != 0
        or int(arrays["term_starts"][-1]) != len(arrays["docs"])
        or len(arrays["tfs"]) != len(arrays["docs"])
        or arrays["docs"].dtype != DOC_DTYPE
        or arrays["tfs"].dtype != TF_DTYPE
    ):
        raise ValueError(f"{path.name}: inconsistent arrays")
    alive = np.array(alive, dtype=bool)
    return Segment(
        **arrays,
        alive=alive,
        dead=int(n - np.count_nonzero(alive)),
        name=path.name,
    )


@dataclass(slots=True)
class Snapshot:
    """What the cache should hold: taken under the index lock, written outside it."""

    seq: int
    generation: int
    seq_article: int | None
    instance: str | None
    libraries: dict[str, dict]

    @classmethod
    def of(cls, index: SearchIndex, seq: int, seq_article: int | None, instance: str | None) -> Snapshot:
        with index.lock:
            libraries = {}
            for name, lib in index.libraries.items():
                libraries[name] = {
                    "segments": list(lib.segments),
                    "alive": [s.alive.copy() for s in lib.segments],
                    "df": lib.df.copy(),
                    "articles": lib.article_rows(),
                    "totals": np.array([lib.docs, lib.total_len], dtype=np.int64),
                }
            return cls(seq, index.generation, seq_article, instance, libraries)


class IndexCache:
    """The cache folder of one database (`<db>.index/`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def locked(self, exclusive: bool) -> Iterator[None]:
        """An advisory file lock, so processes sharing the database never read a half-swapped cache."""
        self.directory.mkdir(exist_ok=True)
        with open(self.directory / "lock", "a+b") as handle:
            try:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            except (ImportError, OSError):  # no flock here: rename-based swaps are still atomic
                pass
            yield

    def load(
        self,
        index: SearchIndex,
        instance: str | None,
        latest_seq: int,
        article_of_change: Callable[[int], int | None],
    ) -> int | None:
        """Load the cached index into `index`; its change-log position, or None if it cannot be
        trusted (then `index` is left empty)."""
        if not (self.directory / "manifest.json").exists():
            return None
        try:
            with self.locked(exclusive=False):
                return self._read(index, instance, latest_seq, article_of_change)
        except Exception as exc:  # a bad cache must never stop the store: rebuild instead
            log.warning(
                "ignoring the index cache in %s (%s); rebuilding from the database", self.directory, exc
            )
            index.clear()
            return None

    def _read(
        self,
        index: SearchIndex,
        instance: str | None,
        latest_seq: int,
        article_of_change: Callable[[int], int | None],
    ) -> int | None:
        directory = self.directory
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("format") != CACHE_FORMAT or manifest.get("instance") != instance:
            raise ValueError("the cache belongs to another database or format")
        seq = int(manifest["seq"])
        if seq > latest_seq:
            raise ValueError("the cache is newer than the database")
        if seq and article_of_change(seq) != manifest["seq_article"]:
            raise ValueError("the cache does not match the change log")
        for name, entry in manifest["libraries"].items():
            state_path = directory / entry["state"]
            if (
                state_path.stat().st_size != entry["state_bytes"]
                or file_crc(state_path) != entry["state_crc"]
            ):
                raise ValueError(f"{entry['state']} is damaged")
            with np.load(state_path, allow_pickle=False) as state:
                df = np.array(state["df"], dtype=np.int64)
                articles = np.array(state["articles"], dtype=np.int64).reshape(-1, 5)
                alive = np.array(state["alive"], dtype=bool)
                counts = np.array(state["counts"], dtype=np.int64)
                docs, total_len = (int(x) for x in state["totals"])
            if len(counts) != len(entry["segments"]) or counts.sum() != len(alive):
                raise ValueError(f"{entry['state']} does not match its segments")
            segments = []
            bounds = np.concatenate(([0], np.cumsum(counts)))
            for i, layout in enumerate(entry["segments"]):
                segments.append(
                    read_segment(directory / layout["file"], layout, alive[bounds[i] : bounds[i + 1]])
                )
            if sum(s.live for s in segments) != docs or (len(articles) and articles[:, 3].sum() != docs):
                raise ValueError(f"{entry['state']}: passage counts disagree")
            lib = index.library(name)
            lib.segments, lib.df, lib.docs, lib.total_len = segments, df, docs, total_len
            lib.set_article_rows(articles)
            lib.version += 1
        return seq

    def write(self, snapshot: Snapshot, index: SearchIndex) -> None:
        """Write new segment files, per-library state, then the manifest (each by rename, so a
        reader sees the old cache or the new one, never half of one); then serve the written
        segments from their files (memory-mapped) instead of the heap."""
        with self.locked(exclusive=True):
            self._write(snapshot, index)

    def _write(self, snapshot: Snapshot, index: SearchIndex) -> None:
        directory = self.directory
        manifest: dict = {
            "format": CACHE_FORMAT,
            "instance": snapshot.instance,
            "seq": snapshot.seq,
            "seq_article": snapshot.seq_article,
            "libraries": {},
        }
        previous = {}
        with contextlib.suppress(OSError, ValueError, KeyError):
            old = json.loads((directory / "manifest.json").read_text())
            for entry in old["libraries"].values():
                for layout in entry["segments"]:
                    previous[layout["file"]] = layout
        mapped = []
        for name, lib in snapshot.libraries.items():
            layouts = []
            for segment in lib["segments"]:
                layout = previous.get(segment.name) if segment.name else None
                path = directory / segment.name if segment.name else None
                if (
                    layout is None
                    or path is None
                    or not path.exists()
                    or path.stat().st_size != layout["bytes"]
                ):
                    file = f"seg-{uuid.uuid4().hex}.bin"
                    layout = {"file": file, **write_segment(segment, directory / file)}
                    mapped.append((segment, layout))
                layouts.append(layout)
            state_file = f"state-{uuid.uuid4().hex}.npz"
            tmp = directory / (state_file + ".tmp")
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    df=lib["df"],
                    articles=lib["articles"],
                    alive=np.concatenate(lib["alive"]) if lib["alive"] else np.zeros(0, dtype=bool),
                    counts=np.array([len(a) for a in lib["alive"]], dtype=np.int64),
                    totals=lib["totals"],
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, directory / state_file)
            manifest["libraries"][name] = {
                "state": state_file,
                "state_bytes": (directory / state_file).stat().st_size,
                "state_crc": file_crc(directory / state_file),
                "segments": layouts,
            }
        tmp = directory / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, directory / "manifest.json")
        with index.lock:
            for segment, layout in mapped:
                segment.name = layout["file"]
                with contextlib.suppress(OSError, ValueError):
                    fresh = read_segment(directory / layout["file"], layout, segment.alive, verify=False)
                    for field_name in ("passage_ids", "article_ids", "doc_len", "term_ids", "term_starts"):
                        setattr(segment, field_name, getattr(fresh, field_name))
                    for field_name in ("docs", "tfs", "max_tf", "min_dl", "ub_ref", "ref"):
                        setattr(segment, field_name, getattr(fresh, field_name))
        keep = (
            {"manifest.json", "lock"}
            | {e["state"] for e in manifest["libraries"].values()}
            | {layout["file"] for e in manifest["libraries"].values() for layout in e["segments"]}
        )
        for path in directory.iterdir():
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
