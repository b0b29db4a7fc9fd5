"""The in-memory BM25 engine: segments, per-library indexes, exact scoring with pruned top-k, and
the on-disk cache of it all."""

from .cache import CacheRefused, IndexCache, Snapshot, file_crc, read_segment, write_segment
from .library import INLINE_MERGE_MAX, MERGE_FACTOR, LibraryIndex
from .scoring import EPSILON, K1, B, Idf, contribution, idf_table
from .search_index import SearchIndex, default_rank_threads
from .segments import PassageTerms, Segment, concat_batches, merge_segments

__all__ = [
    "EPSILON",
    "INLINE_MERGE_MAX",
    "K1",
    "MERGE_FACTOR",
    "B",
    "CacheRefused",
    "Idf",
    "IndexCache",
    "LibraryIndex",
    "PassageTerms",
    "SearchIndex",
    "Segment",
    "Snapshot",
    "concat_batches",
    "contribution",
    "default_rank_threads",
    "file_crc",
    "idf_table",
    "merge_segments",
    "read_segment",
    "write_segment",
]
