"""The on-disk index cache: segment files (memory-mapped at start), per-library state, and the
manifest naming them and the change-log position they reflect.

The database stays the source of truth: a cache that is missing, stale beyond the change log, from
another database or another state of it (a copy that diverged), with a manifest that does not
match its schema, or corrupt (checked by size and CRC-32) is ignored and rebuilt.

The folder is the project's own: it is made with a marker file, and only files of the cache's own
names are ever deleted from it. A symlink, a file, or a folder holding anything else at that path
is left alone, and the index is simply not cached.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..models import INDEX_MARKER
from .search_index import SearchIndex
from .segments import DOC_DTYPE, TF_DTYPE, Segment, block_count

log = logging.getLogger(__name__)

CACHE_FORMAT = 5
MARKER = INDEX_MARKER
"""The file that marks a folder as a Clippings index cache (made with the folder)."""
MARKER_TEXT = "This folder is the search index cache of a Clippings database; it can be deleted.\n"
OWN_FILE = re.compile(
    r"(?:seg-[0-9a-f]{32}\.bin|state-[0-9a-f]{32}\.npz|manifest\.json)(?:\.tmp)?"
    rf"|{re.escape(MARKER)}(?:\.[0-9a-f]{{32}})?\.tmp"
)
"""Names of the files the cache writes: the only ones it ever deletes. The marker's temporary is
one of them: a process killed while making the folder leaves it there, alone."""
FIXED_FILES = frozenset({MARKER, "lock", "manifest.json"})

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
DENSE_ARRAYS = ("dense_starts", "dense_tfs", "block_starts", "block_bounds")
"""After the segment's arrays: the postings starts of its common terms and their dense tf arrays,
then those of the terms with block bounds and their block bounds."""
_ALIGN = 64


class _SegmentWriter:
    """Writes arrays one after another, each aligned, keeping the offset and the CRC-32."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.offset = 0
        self.crc = 0

    def put(self, array: np.ndarray) -> None:
        view = array.data.cast("B") if array.nbytes else b""
        self.file.write(view)
        self.crc = zlib.crc32(view, self.crc)
        self.offset += array.nbytes

    def align(self) -> int:
        pad = b"\0" * ((-self.offset) % _ALIGN)
        self.file.write(pad)
        self.crc = zlib.crc32(pad, self.crc)
        self.offset += len(pad)
        return self.offset

    def array(self, array: np.ndarray) -> list:
        """Write one array; returns its layout entry [offset, dtype, length]."""
        entry = [self.align(), array.dtype.str, len(array)]
        self.put(np.ascontiguousarray(array))
        return entry


def write_segment(segment: Segment, path: Path) -> dict:
    """Write a segment's arrays to one file (atomically: a temporary file, fsync, rename) and
    return its layout: {"bytes", "crc", "arrays": {name: [offset, dtype, length]}}. The common
    terms' dense tf arrays follow (`dense_starts`, and `dense_tfs` one after another), so that
    every process maps them instead of making its own on first use."""
    tmp = path.with_name(path.name + ".tmp")
    layout: dict[str, list] = {}
    with _removed_on_failure(tmp), open(tmp, "wb") as f:
        out = _SegmentWriter(f)
        for name in SEGMENT_ARRAYS:
            layout[name] = out.array(getattr(segment, name))
        starts = segment.common_terms()
        layout["dense_starts"] = out.array(starts)
        layout["dense_tfs"] = [out.align(), np.dtype(np.uint8).str, len(starts) * segment.size]
        for lo in starts.tolist():
            dense = segment.dense.get(lo)
            if dense is None:  # made here, not kept: the file will be mapped instead
                dense = segment.make_dense_tf(lo, _term_end(segment, lo))
            out.put(np.ascontiguousarray(dense, dtype=np.uint8))
        blocked = segment.blocked_terms()
        layout["block_starts"] = out.array(blocked)
        layout["block_bounds"] = [
            out.align(),
            np.dtype(np.uint8).str,
            len(blocked) * block_count(segment.size),
        ]
        for lo in blocked.tolist():
            out.put(np.ascontiguousarray(segment.block_bounds(lo, _term_end(segment, lo)), dtype=np.uint8))
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    return {"bytes": out.offset, "crc": out.crc, "arrays": layout}


def _term_end(segment: Segment, lo: int) -> int:
    """The end of the postings that start at `lo`."""
    i = int(np.searchsorted(segment.term_starts, lo, side="right"))
    return int(segment.term_starts[i])


@contextlib.contextmanager
def _removed_on_failure(path: Path) -> Iterator[None]:
    """Delete a temporary file when writing it fails (a full disk must not fill up further)."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


class CacheRefused(Exception):
    """The cache path holds something that is not this project's cache folder."""


def _int(value: object, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"manifest value {value!r} is not a whole number >= {minimum}")
    return value


def _own_name(value: object, prefix: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix) or not OWN_FILE.fullmatch(value):
        raise ValueError(f"manifest file name {value!r} is not one the cache writes")
    if value.endswith(".tmp"):
        raise ValueError(f"manifest names a temporary file {value!r}")
    return value


def validate_manifest(manifest: object) -> dict:
    """The manifest if every field has the shape the cache writes; ValueError on any doubt."""
    if not isinstance(manifest, dict) or set(manifest) != {"format", "identity", "seq", "tail", "libraries"}:
        raise ValueError("the manifest does not have the cache's fields")
    if manifest["format"] != CACHE_FORMAT:
        raise ValueError("the cache is of another format")
    if not isinstance(manifest["identity"], str) or not isinstance(manifest["tail"], str):
        raise ValueError("the manifest's identity is not text")
    _int(manifest["seq"])
    libraries = manifest["libraries"]
    if not isinstance(libraries, dict):
        raise ValueError("the manifest's libraries are not a mapping")
    for name, entry in libraries.items():
        if not isinstance(name, str) or not isinstance(entry, dict):
            raise ValueError("a manifest library entry is not a mapping")
        if set(entry) != {"state", "state_bytes", "state_crc", "segments"}:
            raise ValueError(f"library {name!r} does not have the cache's fields")
        _own_name(entry["state"], "state-")
        _int(entry["state_bytes"], 1)
        _int(entry["state_crc"])
        if not isinstance(entry["segments"], list):
            raise ValueError(f"library {name!r}: segments are not a list")
        for layout in entry["segments"]:
            if not isinstance(layout, dict) or set(layout) != {"file", "bytes", "crc", "arrays"}:
                raise ValueError(f"library {name!r}: a segment does not have the cache's fields")
            _own_name(layout["file"], "seg-")
            _int(layout["bytes"])
            _int(layout["crc"])
            arrays = layout["arrays"]
            if not isinstance(arrays, dict) or set(arrays) != {*SEGMENT_ARRAYS, *DENSE_ARRAYS}:
                raise ValueError(f"{layout['file']}: the arrays are not the segment's")
            for spec in arrays.values():
                if not isinstance(spec, list) or len(spec) != 3 or not isinstance(spec[1], str):
                    raise ValueError(f"{layout['file']}: an array's layout is malformed")
                _int(spec[0])
                _int(spec[2])
                np.dtype(spec[1])  # TypeError for a made-up dtype
    return manifest


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
    segment = Segment(**arrays, alive=alive, dead=int(n - np.count_nonzero(alive)), name=path.name)
    segment.dense = _mapped_per_term(
        path, layout, raw, size, ("dense_starts", "dense_tfs"), n, segment.common_terms(), "dense arrays"
    )
    segment.blocks = _mapped_per_term(
        path,
        layout,
        raw,
        size,
        ("block_starts", "block_bounds"),
        block_count(n),
        segment.blocked_terms(),
        "block bounds",
    )
    return segment


def _mapped_per_term(
    path: Path,
    layout: dict,
    raw: np.ndarray,
    size: int,
    names: tuple[str, str],
    per_term: int,
    expected: np.ndarray,
    what: str,
) -> dict[int, np.ndarray]:
    """Byte arrays of `per_term` bytes, one for each term whose postings start at `expected`, as views
    of the mapped file: `names` are the layout's entries of their postings starts and of the arrays,
    one after another."""
    starts_at, starts_dtype, count = layout["arrays"][names[0]]
    values_at, values_dtype, values_length = layout["arrays"][names[1]]
    starts_end = starts_at + 8 * count
    if (
        np.dtype(starts_dtype) != np.dtype(np.int64)
        or np.dtype(values_dtype) != np.dtype(np.uint8)
        or starts_at % _ALIGN
        or values_at % _ALIGN
        or starts_end > size
        or values_length != count * per_term
        or values_at + values_length > size
    ):
        raise ValueError(f"{path.name}: {what} out of bounds")
    starts = raw[starts_at:starts_end].view(np.ndarray).view(np.int64) if count else np.zeros(0, np.int64)
    if not np.array_equal(starts, expected):
        raise ValueError(f"{path.name}: {what} of other terms than expected")
    values = raw[values_at : values_at + values_length].view(np.ndarray)
    return {int(lo): values[k * per_term : (k + 1) * per_term] for k, lo in enumerate(starts.tolist())}


@dataclass(slots=True)
class Snapshot:
    """What the cache should hold: taken under the index lock, written outside it."""

    seq: int
    generation: int
    tail: str
    """A fingerprint of the change log up to `seq` (see Database.change_fingerprint)."""
    identity: str
    """The database's identity (a random id renewed when a copy of the file is first opened)."""
    libraries: dict[str, dict]

    @classmethod
    def of(cls, index: SearchIndex, seq: int, tail: str, identity: str) -> Snapshot:
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
            return cls(seq, index.generation, tail, identity, libraries)


class IndexCache:
    """The cache folder of one database (`<db>.index/`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cleaned = False
        self.refused = False
        """Set once the path was found to hold something else: the store stops caching."""

    def _check_own(self, create: bool) -> bool:
        """Whether the folder is this project's cache (made now when `create` and absent). Raises
        CacheRefused when something else is at the path; then nothing there is touched."""
        directory = self.directory
        refused = CacheRefused(
            f"{directory} is not a Clippings index folder (it is a link, a file, or holds other"
            " files), so it is left alone and the index is not cached; move it away to cache again."
        )
        if self.refused or directory.is_symlink():
            self.refused = True
            raise refused
        if not directory.exists():
            if not create:
                return False
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:  # another process made it meanwhile: check what it is
                return self._check_own(create=False)
            self._mark()
            return True
        if not directory.is_dir():
            self.refused = True
            raise refused
        if (directory / MARKER).is_file() and not (directory / MARKER).is_symlink():
            return True
        # A folder of an earlier version (no marker) is adopted only if it holds nothing but the
        # cache's own files (or nothing at all).
        names = [p.name for p in directory.iterdir()]
        if all(n in FIXED_FILES or OWN_FILE.fullmatch(n) for n in names):
            if create:
                self._mark()
            return True
        self.refused = True
        raise refused

    def _mark(self) -> None:
        # A name of its own, so that two processes making the folder at once never share one.
        tmp = self.directory / f"{MARKER}.{uuid.uuid4().hex}.tmp"
        with _removed_on_failure(tmp):
            tmp.write_text(MARKER_TEXT)
            try:
                os.replace(tmp, self.directory / MARKER)
            except FileNotFoundError:  # another process took it for a crash's leftover and removed it
                if not (self.directory / MARKER).is_file():
                    raise

    @contextlib.contextmanager
    def locked(self, exclusive: bool, create: bool = True) -> Iterator[None]:
        """An advisory file lock, so processes sharing the database never read a half-swapped cache."""
        self._check_own(create=create)
        with open(self.directory / "lock", "a+b") as handle:
            try:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            except (ImportError, OSError):  # no flock here: rename-based swaps are still atomic
                pass
            yield

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files a crashed writer left, when no other process is writing."""
        if self._cleaned:
            return
        self._cleaned = True
        try:
            if not self._check_own(create=False):
                return
            with open(self.directory / "lock", "a+b") as handle:
                try:
                    import fcntl

                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except ImportError:
                    return
                except OSError:  # another process holds the lock: it may be writing them
                    return
                for path in self.directory.iterdir():
                    if path.name.endswith(".tmp") and OWN_FILE.fullmatch(path.name):
                        with contextlib.suppress(OSError):
                            path.unlink()
        except (CacheRefused, OSError):
            return

    def remove(self) -> None:
        """Delete the cache: the manifest first (then no process trusts what is left), then every
        file of the cache's own names, the marker and the folder if nothing else is in it.
        CacheRefused if the path is not the project's cache folder (then nothing is touched)."""
        if not self._check_own(create=False):
            return
        directory = self.directory
        with contextlib.suppress(FileNotFoundError):
            (directory / "manifest.json").unlink()
        for path in directory.iterdir():
            if OWN_FILE.fullmatch(path.name) or path.name == "lock":
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        # The marker and the folder go only when nothing else is in it (a file someone put there
        # stays, and the folder stays the project's).
        if [p.name for p in directory.iterdir()] == [MARKER]:
            with contextlib.suppress(OSError):
                (directory / MARKER).unlink()
                directory.rmdir()

    def load(
        self,
        index: SearchIndex,
        identity: str,
        latest_seq: int,
        fingerprint: Callable[[int], str],
    ) -> int | None:
        """Load the cached index into `index`; its change-log position, or None if it cannot be
        trusted (then `index` is left empty)."""
        try:
            if not self._check_own(create=False) or not (self.directory / "manifest.json").exists():
                return None
        except CacheRefused as exc:
            log.warning("%s", exc)
            return None
        self.remove_stale_temporaries()
        try:
            with self.locked(exclusive=False, create=False):
                return self._read(index, identity, latest_seq, fingerprint)
        except Exception as exc:  # a bad cache must never stop the store: rebuild instead
            log.warning(
                "ignoring the index cache in %s (%s); rebuilding from the database", self.directory, exc
            )
            index.clear()
            return None

    def _read(
        self,
        index: SearchIndex,
        identity: str,
        latest_seq: int,
        fingerprint: Callable[[int], str],
    ) -> int | None:
        directory = self.directory
        manifest = validate_manifest(json.loads((directory / "manifest.json").read_text()))
        if manifest["identity"] != identity:
            raise ValueError("the cache belongs to another database")
        seq = manifest["seq"]
        if seq > latest_seq:
            raise ValueError("the cache is newer than the database")
        if fingerprint(seq) != manifest["tail"]:
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
            written: list[Path] = []
            try:
                self._write(snapshot, index, written)
            except BaseException:
                # Nothing half-written stays: files of this attempt that no manifest names go.
                for path in written:
                    with contextlib.suppress(OSError):
                        path.unlink()
                raise

    def _write(self, snapshot: Snapshot, index: SearchIndex, written: list[Path]) -> None:
        directory = self.directory
        manifest: dict = {
            "format": CACHE_FORMAT,
            "identity": snapshot.identity,
            "seq": snapshot.seq,
            "tail": snapshot.tail,
            "libraries": {},
        }
        previous = {}
        with contextlib.suppress(OSError, ValueError, TypeError):
            old = validate_manifest(json.loads((directory / "manifest.json").read_text()))
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
                    written.append(directory / file)
                    layout = {"file": file, **write_segment(segment, directory / file)}
                    mapped.append((segment, layout))
                layouts.append(layout)
            state_file = f"state-{uuid.uuid4().hex}.npz"
            tmp = directory / (state_file + ".tmp")
            written.append(directory / state_file)
            with _removed_on_failure(tmp), open(tmp, "wb") as f:
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
                f.close()
                os.replace(tmp, directory / state_file)
            manifest["libraries"][name] = {
                "state": state_file,
                "state_bytes": (directory / state_file).stat().st_size,
                "state_crc": file_crc(directory / state_file),
                "segments": layouts,
            }
        tmp = directory / "manifest.json.tmp"
        with _removed_on_failure(tmp), open(tmp, "w") as f:
            f.write(json.dumps(manifest))
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(tmp, directory / "manifest.json")
        written.clear()  # the manifest names them now
        with index.lock:
            for segment, layout in mapped:
                segment.name = layout["file"]
                with contextlib.suppress(OSError, ValueError):
                    fresh = read_segment(directory / layout["file"], layout, segment.alive, verify=False)
                    for field_name in ("passage_ids", "article_ids", "doc_len", "term_ids", "term_starts"):
                        setattr(segment, field_name, getattr(fresh, field_name))
                    for field_name in ("docs", "tfs", "max_tf", "min_dl", "ub_ref", "ref"):
                        setattr(segment, field_name, getattr(fresh, field_name))
                    segment.dense = {**segment.dense, **fresh.dense}  # mapped, not in this process's heap
                    segment.blocks = {**segment.blocks, **fresh.blocks}
        keep = (
            {"manifest.json"}
            | {e["state"] for e in manifest["libraries"].values()}
            | {layout["file"] for e in manifest["libraries"].values() for layout in e["segments"]}
        )
        # Only files of the cache's own names are deleted: never anything else in the folder.
        for path in directory.iterdir():
            if path.name not in keep and OWN_FILE.fullmatch(path.name):
                with contextlib.suppress(OSError):
                    path.unlink()
