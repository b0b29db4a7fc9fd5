/* The n best documents' candidates for a question, and their exact scores, in C.
 *
 * top_candidates finds which documents can be among the n best, a small superset of them, in fused
 * loops over the question's postings (numpy needs several passes per term); exact_scores then
 * scores them exactly as rank-bm25 does (below). See index/engine/kernel.py.
 *
 * top_candidates(parts, terms, acc, seen, n, avgdl, k1, b, margin, threads=1)
 *   -> (candidates: bytes of int64, touched: int, complete: bool)
 *   parts: list of (doc_len int32 buffer, alive bool buffer or None, base int)
 *   terms: list of (weight float, bound float, postings: list of (part index, docs int32 buffer,
 *          tfs uint16 buffer, dense tf buffer of every document of the part or None[, block bounds
 *          uint8 buffer or None])), rarest first. weight >= 0; bound >= weight * tf-part of every
 *          posting; block b's bound times weight * (k1 + 1) / BLOCK_LEVELS >= weight * the tf-part of
 *          every posting of documents [b << BLOCK_SHIFT, (b + 1) << BLOCK_SHIFT) of the part.
 *   acc, seen: zeroed float64 and one-byte scratch of a document each (global numbering, base + doc);
 *   they are left zeroed.
 * Returns every live document whose score here is at least the n-th best less a relative 4 * margin
 * (and perhaps a few more), how many live documents it touched, and whether it read every posting
 * (then those are all the live documents holding a term).
 *
 * Pruning: contributions are never negative, so the n-th best full score of any n documents (a pool
 * of the best partial scores, their other terms looked up) bounds the final n-th score from below,
 * and so does the n-th best full score of the documents finished so far. Once the bounds of the
 * terms left cannot lift an unseen document to it (and the next term's postings are not few next to
 * the documents touched), the documents that can still reach it are finished one at a time, in
 * document order, each only while its own bound can still reach it. With block bounds, a term's
 * bound for a document is its block's: the bound of an unseen document is the largest block sum of
 * the terms left, and each touched document's is its own block's sum, far below the sum of the
 * terms' global bounds for most documents (block-max pruning, as in block-max WAND).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* Block bounds: one for each 2**BLOCK_SHIFT documents of a part, in units of (k1 + 1) / BLOCK_LEVELS
 * (index/engine/segments.py makes them). */
#define BLOCK_SHIFT 6
#define BLOCK_LEVELS 255

typedef struct {
    Py_buffer len_view;
    Py_buffer alive_view;
    int has_alive;
    const int32_t *doc_len;
    const uint8_t *alive;
    int64_t base;
} Part;

typedef struct {
    Py_buffer docs_view;
    Py_buffer tfs_view;
    Py_buffer dense_view;
    Py_buffer blocks_view;
    const int32_t *docs;
    const uint16_t *tfs;
    const void *dense; /* the tf of every document of the part (uint8 or uint16), or NULL */
    Py_ssize_t dense_size;
    Py_ssize_t len;
    Py_ssize_t part;
    Py_ssize_t at; /* the candidates' pass: the first posting not before the last document looked up */
    const uint8_t *blocks; /* per block of 2**BLOCK_SHIFT documents of the part, a bound of the term's
                            * tf-part there in units of (k1 + 1) / BLOCK_LEVELS, or NULL */
} Postings;

typedef struct {
    double weight;
    double bound;
    Py_ssize_t count;
    Py_ssize_t size; /* postings in all its parts */
    int blocked;     /* every part's postings have block bounds */
    Postings *postings;
} Term;

/* A min-heap of the n best scores: its top is the n-th best once full. */
typedef struct {
    double *items;
    Py_ssize_t size;
    Py_ssize_t cap;
} Heap;

static void heap_push(Heap *h, double v) {
    if (h->size < h->cap) {
        Py_ssize_t i = h->size++;
        while (i > 0) {
            Py_ssize_t parent = (i - 1) / 2;
            if (h->items[parent] <= v) break;
            h->items[i] = h->items[parent];
            i = parent;
        }
        h->items[i] = v;
        return;
    }
    if (v <= h->items[0]) return;
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t l = 2 * i + 1, r = l + 1, m = i;
        double mv = v;
        if (l < h->size && h->items[l] < mv) { m = l; mv = h->items[l]; }
        if (r < h->size && h->items[r] < mv) { m = r; mv = h->items[r]; }
        if (m == i) break;
        h->items[i] = h->items[m];
        i = m;
    }
    h->items[i] = v;
}

/* The n-th best of the documents' scores less a relative 4 * margin; -inf when fewer than n. */
static double nth_best(Heap *heap, const double *acc, const int64_t *docs, Py_ssize_t count, double margin) {
    heap->size = 0;
    for (Py_ssize_t i = 0; i < count; i++) heap_push(heap, acc[docs[i]]);
    if (heap->size < heap->cap) return -INFINITY;
    double th = heap->items[0];
    return th - fabs(th) * margin * 4;
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (view->itemsize != itemsize || view->ndim > 1) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-d buffer of %zd-byte items", what, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

typedef struct {
    const Part *parts;
    Py_ssize_t part_count;
    Term *terms;
    Py_ssize_t term_count;
    double *acc;
    uint8_t *seen;
    int64_t *touched;
    double *tail; /* the candidates' pass: the bounds of the terms left, summed from each on */
    Heap heap;
    double k1, k1p, base_norm, scale, margin;
    int skipped; /* a document holding a term read was left untouched (see accumulate) */
    int64_t lo, hi; /* the global documents [lo, hi) this search ranks: all, or one half of a split search */
    _Atomic double *shared; /* a split search: the best bar either half has found (NULL: not split) */
    /* Block bounds of the terms not read yet (NULL when no term has them): rest[j - rest_from] bounds
     * what the blocked terms left can add to a document of global block j, flat what the others can
     * add to any document, rest_max the largest of rest. */
    double *rest;
    int64_t rest_from;
    Py_ssize_t rest_len;
    double flat, rest_max, unit;
} Search;

/* The bar th, or the other half's when higher: any n documents' n-th best full score bounds the n-th
 * best of all from below, whichever half holds them. */
static inline double bar(const Search *s, double th) {
    if (s->shared == NULL) return th;
    const double other = atomic_load_explicit(s->shared, memory_order_relaxed);
    return other > th ? other : th;
}

static inline void publish(const Search *s, double th) {
    if (s->shared == NULL) return;
    double seen_bar = atomic_load_explicit(s->shared, memory_order_relaxed);
    while (th > seen_bar && !atomic_compare_exchange_weak_explicit(s->shared, &seen_bar, th, memory_order_relaxed,
                                                                   memory_order_relaxed)) {
    }
}

static inline double norm_of(const Search *s, const Part *part, int32_t doc) {
    return s->k1 * (s->base_norm + s->scale * (double)part->doc_len[doc]);
}

/* The term's contribution to a document of the part that holds it tf times: rank-bm25's expression. */
static inline double contribution(const Search *s, const Term *term, const Part *part, int32_t doc, double tf) {
    return term->weight * (tf * s->k1p / (tf + norm_of(s, part, doc)));
}

/* Postings are read in document order but touch the per-document arrays (scores, lengths, marks) far
 * apart, a cache miss each at a million documents: each loop asks for the document AHEAD postings on
 * (about 30% faster at 1M documents, no slower at 100k; see docs/performance.md). */
#ifndef AHEAD
#define AHEAD 32
#endif

/* Adds every live posting of the term; a document's first posting marks it and appends it to touched.
 * A document first met here is left untouched when even this contribution and the bounds of the
 * terms after it (`after`) cannot lift it to th: its later postings are then skipped alike, as
 * this one's share and theirs never exceed `after`. Sets s->skipped when it skips one. */
static Py_ssize_t accumulate(Search *s, const Term *term, Py_ssize_t count, double after, double th) {
    const double lift = after * (1 + s->margin);
    for (Py_ssize_t k = 0; k < term->count; k++) {
        const Postings *p = &term->postings[k];
        const Part *part = &s->parts[p->part];
        double *acc = s->acc + part->base;
        uint8_t *seen = s->seen + part->base;
        for (Py_ssize_t j = 0; j < p->len; j++) {
            const int32_t doc = p->docs[j];
            if (j + AHEAD < p->len) {
                const int32_t later = p->docs[j + AHEAD];
                __builtin_prefetch(&acc[later], 1);
                __builtin_prefetch(&part->doc_len[later], 0);
                __builtin_prefetch(&seen[later], 1);
            }
            if (part->has_alive && !part->alive[doc]) continue;
            const double c = contribution(s, term, part, doc, (double)p->tfs[j]);
            if (!seen[doc]) {
                double most = c + lift;
                if (s->rest != NULL) {
                    /* The block bounds of this term and the ones after it, if lower. */
                    const double block = s->rest[((part->base + doc) >> BLOCK_SHIFT) - s->rest_from] + s->flat;
                    if (block * (1 + s->margin) < most) most = block * (1 + s->margin);
                }
                if (most * (1 + s->margin) < th) {
                    s->skipped = 1;
                    continue;
                }
                seen[doc] = 1;
                s->touched[count++] = part->base + doc;
            }
            acc[doc] += c;
        }
    }
    return count;
}

/* The first position in docs[0:len] of a document not before doc. */
static Py_ssize_t lower_bound(const int32_t *docs, Py_ssize_t len, int64_t doc) {
    Py_ssize_t lo = 0, hi = len;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if ((int64_t)docs[mid] < doc) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The first position of doc in docs[0:len], or -1. */
static Py_ssize_t find(const int32_t *docs, Py_ssize_t len, int32_t doc) {
    const Py_ssize_t at = lower_bound(docs, len, doc);
    return at < len && docs[at] == doc ? at : -1;
}

/* The term's tf in one document of the part: from its dense array when it has one, else by binary
 * search in its postings (0 when absent). */
static inline double tf_of(const Postings *p, int32_t doc) {
    if (p->dense != NULL)
        return p->dense_size == 1 ? (double)((const uint8_t *)p->dense)[doc] : (double)((const uint16_t *)p->dense)[doc];
    Py_ssize_t at = find(p->docs, p->len, doc);
    return at < 0 ? 0 : (double)p->tfs[at];
}

/* The term's postings in the part that holds global document g, and g's number there; NULL when no
 * part of the term's holds it. */
static inline Postings *postings_of(const Part *parts, const Term *term, int64_t g, int32_t *doc) {
    for (Py_ssize_t k = 0; k < term->count; k++) {
        const Part *part = &parts[term->postings[k].part];
        if (g < part->base || g - part->base >= (int64_t)(part->len_view.len / 4)) continue;
        *doc = (int32_t)(g - part->base);
        return &term->postings[k];
    }
    return NULL;
}

/* The term's contribution to one document (0 when it lacks the term). */
static double contribution_of(const Search *s, const Term *term, int64_t g) {
    int32_t doc;
    const Postings *p = postings_of(s->parts, term, g, &doc);
    const double tf = p != NULL ? tf_of(p, doc) : 0;
    return tf > 0 ? contribution(s, term, &s->parts[p->part], doc, tf) : 0;
}

/* The term's tf in a document of the part, for documents asked in increasing order: from its dense
 * array, else by galloping forward from the last answer. */
static inline double tf_after(Postings *p, int32_t doc) {
    if (p->dense != NULL)
        return p->dense_size == 1 ? (double)((const uint8_t *)p->dense)[doc] : (double)((const uint16_t *)p->dense)[doc];
    Py_ssize_t at = p->at, len = p->len;
    if (at < len && p->docs[at] < doc) {
        Py_ssize_t step = 1, lo = at, hi = at + 1;
        while (hi < len && p->docs[hi] < doc) {
            lo = hi;
            step *= 2;
            hi = lo + step;
        }
        if (hi > len) hi = len;
        lo++; /* docs[lo - 1] < doc; the answer is in [lo, hi] */
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (p->docs[mid] < doc) lo = mid + 1;
            else hi = mid;
        }
        at = lo;
        p->at = at;
    }
    return at < len && p->docs[at] == doc ? (double)p->tfs[at] : 0;
}

/* The term's contribution to a document, for documents asked in increasing order. */
static inline double contribution_after(const Search *s, Term *term, int64_t g) {
    int32_t doc;
    Postings *p = postings_of(s->parts, term, g, &doc);
    const double tf = p != NULL ? tf_after(p, doc) : 0;
    return tf > 0 ? contribution(s, term, &s->parts[p->part], doc, tf) : 0;
}

/* The part's local documents within the search's range: [start, end). */
typedef struct {
    Py_ssize_t start, end;
} Span;

static inline Span span_of(const Search *s, const Part *part) {
    const int64_t len = (int64_t)(part->len_view.len / 4);
    int64_t start = s->lo - part->base, end = s->hi - part->base;
    if (start < 0) start = 0;
    if (end > len) end = len;
    if (end < start) end = start;
    return (Span){(Py_ssize_t)start, (Py_ssize_t)end};
}

/* -- block bounds ------------------------------------------------------------------------------ */

/* The global blocks a document of the search's range can be in: [first, last]; last < first when
 * the range holds no document. */
static void rest_range(const Search *s, int64_t *first, int64_t *last) {
    int64_t end = 0;
    for (Py_ssize_t k = 0; k < s->part_count; k++) {
        const int64_t e = s->parts[k].base + (int64_t)(s->parts[k].len_view.len / 4);
        if (e > end) end = e;
    }
    if (s->hi < end) end = s->hi;
    *first = s->lo >> BLOCK_SHIFT;
    *last = end > s->lo ? (end - 1) >> BLOCK_SHIFT : *first - 1;
}

/* Sets the search's block range and allocates rest over it (not filled); 0 when out of memory. */
static int new_rest(Search *s) {
    int64_t first, last;
    rest_range(s, &first, &last);
    s->rest_from = first;
    s->rest_len = last >= first ? (Py_ssize_t)(last - first + 1) : 0;
    s->rest = malloc(sizeof(double) * (size_t)(s->rest_len ? s->rest_len : 1));
    return s->rest != NULL;
}

/* Adds (sign 1) or takes away (sign -1, never below 0) a blocked term's block bounds over the search's
 * range. A block of a part whose base is not a multiple of the block size straddles two global
 * blocks, and counts in both. */
static void shift_rest(Search *s, const Term *term, int sign) {
    const double scale = term->weight * s->unit;
    for (Py_ssize_t k = 0; k < term->count; k++) {
        const Postings *p = &term->postings[k];
        const Part *part = &s->parts[p->part];
        const Span span = span_of(s, part);
        if (span.start >= span.end) continue;
        const uint8_t *blocks = p->blocks;
        const Py_ssize_t first = span.start >> BLOCK_SHIFT, last = (span.end - 1) >> BLOCK_SHIFT;
        if ((part->base & ((1 << BLOCK_SHIFT) - 1)) == 0) {
            /* A part starting on a block boundary (a merged library's one segment): its blocks are
             * global blocks, in a loop without branches. */
            double *r = s->rest + ((part->base >> BLOCK_SHIFT) - s->rest_from);
            if (sign > 0) {
                for (Py_ssize_t b = first; b <= last; b++) r[b] += scale * blocks[b];
            } else {
                for (Py_ssize_t b = first; b <= last; b++) {
                    const double x = r[b] - scale * blocks[b];
                    r[b] = x > 0 ? x : 0;
                }
            }
            continue;
        }
        for (Py_ssize_t b = first; b <= last; b++) {
            if (blocks[b] == 0) continue;
            const double v = scale * blocks[b];
            const int64_t g = part->base + ((int64_t)b << BLOCK_SHIFT);
            int64_t j = (g >> BLOCK_SHIFT) - s->rest_from;
            const int64_t j2 = ((g + (1 << BLOCK_SHIFT) - 1) >> BLOCK_SHIFT) - s->rest_from;
            for (; j <= j2; j++) {
                if (j < 0 || j >= s->rest_len) continue;
                s->rest[j] = sign > 0 ? s->rest[j] + v : fmax(s->rest[j] - v, 0);
            }
        }
    }
}

static void rest_maximum(Search *s) {
    double most[4] = {0, 0, 0, 0}; /* four at a time: independent comparisons */
    Py_ssize_t j = 0;
    for (; j + 4 <= s->rest_len; j += 4)
        for (int k = 0; k < 4; k++) most[k] = s->rest[j + k] > most[k] ? s->rest[j + k] : most[k];
    for (; j < s->rest_len; j++) most[0] = s->rest[j] > most[0] ? s->rest[j] : most[0];
    most[0] = most[0] > most[1] ? most[0] : most[1];
    most[2] = most[2] > most[3] ? most[2] : most[3];
    s->rest_max = most[0] > most[2] ? most[0] : most[2];
}

/* Sets rest, flat and rest_max from the terms [from, term_count) over the search's range (rest is
 * allocated by the caller, rest_len long). */
static void build_rest(Search *s, Py_ssize_t from) {
    memset(s->rest, 0, sizeof(double) * (size_t)s->rest_len);
    s->flat = 0;
    for (Py_ssize_t t = from; t < s->term_count; t++) {
        if (s->terms[t].blocked) shift_rest(s, &s->terms[t], 1);
        else s->flat += s->terms[t].bound;
    }
    rest_maximum(s);
}

/* After term t is read: its bounds leave rest or flat. */
static void rest_read(Search *s, const Term *term) {
    if (s->rest == NULL) return;
    if (term->blocked) {
        shift_rest(s, term, -1);
        rest_maximum(s);
    } else {
        s->flat = fmax(s->flat - term->bound, 0);
    }
}

/* The most the terms not read can add to a document no term read holds: the global bound
 * `remaining`, or the block bounds' when lower. */
static inline double unseen_bound(const Search *s, double remaining) {
    if (s->rest == NULL) return remaining;
    const double blocked = s->rest_max + s->flat;
    return blocked < remaining ? blocked : remaining;
}

/* The most the terms not read can add to global document g. */
static inline double doc_bound(const Search *s, double remaining, int64_t g) {
    if (s->rest == NULL) return remaining;
    const double blocked = s->rest[(g >> BLOCK_SHIFT) - s->rest_from] + s->flat;
    return blocked < remaining ? blocked : remaining;
}

static int by_index(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Puts the candidates (the first cand of touched, marked 2 in seen) in document order: by a scan of
 * the marks (eight at a time) unless they are very few, then by sorting. */
static void sort_candidates(Search *s, const Part *parts, Py_ssize_t part_count, Py_ssize_t cand, Py_ssize_t count) {
    Py_ssize_t docs = 0;
    for (Py_ssize_t k = 0; k < part_count; k++) {
        const Span span = span_of(s, &parts[k]);
        docs += span.end - span.start;
    }
    if (cand * 256 < docs) {
        qsort(s->touched, (size_t)cand, sizeof(int64_t), by_index);
        return;
    }
    /* Parts may be in any order: scan them by base, each once (an empty part may share its base
     * with another). The writes run one entry past the candidates (a touched document's, if any,
     * restored after). */
    const int64_t after = cand < count ? s->touched[cand] : 0;
    Py_ssize_t written = 0;
    int64_t from = -1;
    while (written < cand) {
        const Part *next = NULL;
        for (Py_ssize_t k = 0; k < part_count; k++)
            if (parts[k].len_view.len > 0 && parts[k].base > from && (next == NULL || parts[k].base < next->base))
                next = &parts[k];
        if (next == NULL) break;
        from = next->base;
        const uint8_t *seen = s->seen + next->base;
        const Span span = span_of(s, next);
        const Py_ssize_t len = span.end;
        Py_ssize_t d = span.start;
        for (; d + 8 <= len && written < cand; d += 8) {
            uint64_t word;
            memcpy(&word, seen + d, 8);
            if (!(word & 0x0202020202020202ULL)) continue; /* marks are 0, 1 or 2 here */
            for (Py_ssize_t e = d; e < d + 8; e++) { /* without branches: marks are unpredictable */
                s->touched[written] = next->base + e;
                written += seen[e] == 2;
            }
        }
        for (; d < len && written < cand; d++) {
            s->touched[written] = next->base + d;
            written += seen[d] == 2;
        }
    }
    if (cand < count) s->touched[cand] = after;
}

#define POOL 64
#define IN_POOL 4

/* The documents with the best partial scores, a min-heap by score, each marked IN_POOL in seen. */
typedef struct {
    int64_t docs[POOL];
    double scores[POOL];
    Py_ssize_t size;
} Pool;

static void pool_sift_down(Pool *pool, Py_ssize_t i) {
    for (;;) {
        Py_ssize_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < pool->size && pool->scores[l] < pool->scores[m]) m = l;
        if (r < pool->size && pool->scores[r] < pool->scores[m]) m = r;
        if (m == i) return;
        double ts = pool->scores[i];
        int64_t td = pool->docs[i];
        pool->scores[i] = pool->scores[m];
        pool->docs[i] = pool->docs[m];
        pool->scores[m] = ts;
        pool->docs[m] = td;
        i = m;
    }
}

static void pool_offer(Pool *pool, uint8_t *seen, int64_t g, double score) {
    if (seen[g] & IN_POOL) return;
    if (pool->size < POOL) {
        pool->docs[pool->size] = g;
        pool->scores[pool->size] = score;
        pool->size++;
        seen[g] |= IN_POOL;
        if (pool->size == POOL)
            for (Py_ssize_t i = POOL / 2 - 1; i >= 0; i--) pool_sift_down(pool, i);
        return;
    }
    if (score <= pool->scores[0]) return;
    seen[pool->docs[0]] &= (uint8_t)~IN_POOL;
    pool->docs[0] = g;
    pool->scores[0] = score;
    seen[g] |= IN_POOL;
    pool_sift_down(pool, 0);
}

/* A lower bound of the final n-th score: the n-th best full score (terms [from, term_count) looked
 * up) of the pool, renewed first: its members' scores have grown, and only a document holding one of
 * the terms [since, from) can have overtaken them; less a relative 4 * margin. */
static double seed(Search *s, Pool *pool, Py_ssize_t since, Py_ssize_t from) {
    for (Py_ssize_t i = 0; i < pool->size; i++) pool->scores[i] = s->acc[pool->docs[i]];
    if (pool->size == POOL)
        for (Py_ssize_t i = POOL / 2 - 1; i >= 0; i--) pool_sift_down(pool, i);
    for (Py_ssize_t t = since; t < from; t++) {
        const Term *term = &s->terms[t];
        for (Py_ssize_t k = 0; k < term->count; k++) {
            const Postings *p = &term->postings[k];
            const Part *part = &s->parts[p->part];
            for (Py_ssize_t j = 0; j < p->len; j++) {
                const int64_t g = part->base + p->docs[j];
                if (j + AHEAD < p->len) {
                    const int64_t later = part->base + p->docs[j + AHEAD];
                    __builtin_prefetch(&s->seen[later], 0);
                    __builtin_prefetch(&s->acc[later], 0);
                }
                if (!(s->seen[g] & 1)) continue; /* dead */
                const double score = s->acc[g];
                if (pool->size < POOL || score > pool->scores[0]) pool_offer(pool, s->seen, g, score);
            }
        }
    }
    s->heap.size = 0;
    for (Py_ssize_t i = 0; i < pool->size; i++) {
        double full = s->acc[pool->docs[i]];
        for (Py_ssize_t t = from; t < s->term_count; t++) full += contribution_of(s, &s->terms[t], pool->docs[i]);
        heap_push(&s->heap, full);
    }
    if (s->heap.size < s->heap.cap) return -INFINITY;
    double th = s->heap.items[0];
    return th - fabs(th) * s->margin * 4;
}

static int by_bound_descending(const void *a, const void *b) {
    double x = ((const Term *)a)->bound, y = ((const Term *)b)->bound;
    return (x < y) - (x > y);
}

/* Whether to stop reading postings before term `next`: once no unseen document can reach th, unless
 * that term has fewer postings than half the documents touched. Finishing a candidate costs about ten
 * times adding a posting, and reading such a term lowers the bound that every candidate must beat
 * (less ranking time at 100k to 1M passages: benchmarks/kernel_ab.py, docs/performance.md). */
static inline int can_stop(const Search *s, Py_ssize_t next, double remaining, double th, Py_ssize_t count) {
    return unseen_bound(s, remaining) * (1 + s->margin) < th && 2 * s->terms[next].size >= count;
}

/* Where reading the postings stands: terms [0, done) are read, the candidates' bar th, the bounds
 * of the terms not read, the pool of best partial scores and the term read before its last seed. */
typedef struct {
    Py_ssize_t done, count, since;
    double remaining, th;
    Pool pool;
} Progress;

static Progress start_progress(const Search *s) {
    Progress p = {.done = 0, .count = 0, .since = 0, .remaining = 0, .th = -INFINITY};
    p.pool.size = 0;
    for (Py_ssize_t t = 0; t < s->term_count; t++) p.remaining += s->terms[t].bound;
    return p;
}

/* Reads the terms' postings, rarest first, until no unseen document can reach th (can_stop) or
 * before term `until` (then returns 1: the caller goes on). Returns 0 when it stopped or read all. */
static int read_postings(Search *s, Progress *p, Py_ssize_t until) {
    for (; p->done < s->term_count; p->done++) {
        p->th = bar(s, p->th);
        if (p->done > 0 && can_stop(s, p->done, p->remaining, p->th, p->count)) return 0;
        /* Seed after the first term, then every fourth, or when the bound left comes near th. */
        if (p->done > p->since && (p->done == 1 || p->done % 4 == 0 || p->remaining < 1.25 * p->th)) {
            double now = seed(s, &p->pool, p->since, p->done);
            p->since = p->done;
            if (now > p->th) {
                p->th = now;
                publish(s, now);
            }
            if (can_stop(s, p->done, p->remaining, p->th, p->count)) return 0;
        }
        if (p->done == until) return 1;
        /* Never below 0: a rounding residue would stop before a term of idf 0 (matches at 0). */
        p->remaining = fmax(p->remaining - s->terms[p->done].bound, 0);
        p->count = accumulate(s, &s->terms[p->done], p->count, p->remaining, p->th);
        rest_read(s, &s->terms[p->done]);
    }
    return 0;
}

/* Finishes the search from where reading the postings stopped: the candidates go to the front of
 * touched. Sets how many, how many live documents were touched, and whether every posting was read
 * (then that is every one holding a term). */
static void finish(Search *s, Progress *p, Py_ssize_t *kept_out, Py_ssize_t *touched_out, int *complete) {
    const Py_ssize_t done = p->done, count = p->count;
    const double remaining = p->remaining;
    double th = bar(s, p->th), final_th = -INFINITY;
    for (Py_ssize_t i = 0; i < p->pool.size; i++) s->seen[p->pool.docs[i]] &= (uint8_t)~IN_POOL;
    Py_ssize_t cand = count;
    if (done < s->term_count) {
        /* Candidates: touched documents that can still reach th; moved to the front of touched. */
        cand = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            const int64_t g = s->touched[i];
            if (i + AHEAD < count) {
                __builtin_prefetch(&s->acc[s->touched[i + AHEAD]], 1);
                __builtin_prefetch(&s->seen[s->touched[i + AHEAD]], 1);
            }
            if (s->acc[g] + doc_bound(s, remaining, g) * (1 + s->margin) >= th) {
                s->touched[i] = s->touched[cand];
                s->touched[cand++] = g;
                s->seen[g] = 2;
            } else {
                /* Never a candidate: its entries are zeroed now, while in the cache, and the last
                 * pass reads only the candidates. */
                s->acc[g] = 0;
                s->seen[g] = 0;
            }
        }
        /* Biggest bounds first: the slack shrinks fastest. */
        qsort(s->terms + done, (size_t)(s->term_count - done), sizeof(Term), by_bound_descending);
        const Py_ssize_t rest = s->term_count - done;
        Term *left = s->terms + done;
        s->tail[rest] = 0;
        for (Py_ssize_t t = rest - 1; t >= 0; t--) s->tail[t] = s->tail[t + 1] + left[t].bound;
        /* Document at a time, in document order: each candidate takes the terms left until its
         * bound falls below th; the n-th best full score so far raises th. */
        sort_candidates(s, s->parts, s->part_count, cand, count);
        s->heap.size = 0;
        for (Py_ssize_t i = 0; i < cand; i++) {
            const int64_t g = s->touched[i];
            if (i + AHEAD < cand) __builtin_prefetch(&s->acc[s->touched[i + AHEAD]], 1);
            if ((i & 255) == 0) th = bar(s, th);
            double score = s->acc[g];
            /* What the terms from t on can still add: their global bounds' sum, or the block
             * bounds' when lower (less each term's share once it is added). */
            double bound = doc_bound(s, s->tail[0], g);
            Py_ssize_t t = 0;
            for (; t < rest; t++) {
                if (score + bound * (1 + s->margin) < th) break;
                int32_t doc;
                Postings *q = postings_of(s->parts, &left[t], g, &doc);
                const double tf = q != NULL ? tf_after(q, doc) : 0;
                if (tf > 0) score += contribution(s, &left[t], &s->parts[q->part], doc, tf);
                /* What the bound held for this term: its block bound when it came from the block sums,
                 * its global bound when from tail; never more than either (a block bound is rounded
                 * up, and may exceed the global one). */
                double share = left[t].bound;
                if (left[t].blocked) {
                    const double block = q != NULL ? left[t].weight * s->unit * q->blocks[doc >> BLOCK_SHIFT] : 0;
                    if (block < share) share = block;
                }
                bound -= share;
                if (bound > s->tail[t + 1]) bound = s->tail[t + 1];
            }
            if (t < rest) {
                s->seen[g] = 1;
                continue;
            }
            s->acc[g] = score;
            heap_push(&s->heap, score);
            if (s->heap.size == s->heap.cap) {
                const double now = s->heap.items[0] - fabs(s->heap.items[0]) * s->margin * 4;
                if (now > th) {
                    th = now;
                    publish(s, now);
                }
            }
        }
        /* Only completed candidates (still marked 2) are kept below. */
        final_th = s->heap.size < s->heap.cap ? -INFINITY : s->heap.items[0] - fabs(s->heap.items[0]) * s->margin * 4;
    }
    const double final = bar(s, done < s->term_count ? final_th : nth_best(&s->heap, s->acc, s->touched, cand, s->margin));
    Py_ssize_t kept = 0;
    /* After the candidates' pass only the candidates' entries are left to zero. */
    const Py_ssize_t last = done < s->term_count ? cand : count;
    for (Py_ssize_t i = 0; i < last; i++) {
        const int64_t g = s->touched[i];
        if (i + AHEAD < last) {
            __builtin_prefetch(&s->acc[s->touched[i + AHEAD]], 1);
            __builtin_prefetch(&s->seen[s->touched[i + AHEAD]], 1);
        }
        if (i < cand && (done == s->term_count || s->seen[g] == 2) && s->acc[g] >= final) {
            s->touched[i] = s->touched[kept];
            s->touched[kept++] = g;
        }
        s->acc[g] = 0;
        s->seen[g] = 0;
    }
    *kept_out = kept;
    *touched_out = count;
    *complete = done == s->term_count && !s->skipped;
}

/* Runs the search on one thread (see finish for what it sets). */
static void run(Search *s, Py_ssize_t *kept_out, Py_ssize_t *touched_out, int *complete) {
    Progress p = start_progress(s);
    read_postings(s, &p, s->term_count);
    finish(s, &p, kept_out, touched_out, complete);
}


/* One half of a split search: the whole search's terms with their postings cut to its documents, and
 * its own touched list, heap and pool, over the shared acc and seen (the halves' documents differ). */
typedef struct {
    Search s;
    Progress p;
    Term *terms;
    Postings *postings;
    Py_ssize_t kept, touched;
    int complete;
} Half;

static void free_half(Half *h) {
    free(h->terms);
    free(h->postings);
    free(h->s.touched);
    free(h->s.tail);
    free(h->s.heap.items);
    free(h->s.rest);
}

/* The half of documents [lo, hi) of a search read up to p (its touched documents and pool members
 * there carry on); 0 when out of memory. */
static int make_half(Half *h, const Search *all, const Progress *p, int64_t lo, int64_t hi) {
    memset(h, 0, sizeof *h);
    Py_ssize_t lists = 0, postings = 0;
    for (Py_ssize_t t = 0; t < all->term_count; t++) lists += all->terms[t].count;
    h->terms = malloc(sizeof(Term) * (size_t)(all->term_count ? all->term_count : 1));
    h->postings = malloc(sizeof(Postings) * (size_t)(lists ? lists : 1));
    if (h->terms == NULL || h->postings == NULL) return 0;
    Postings *next = h->postings;
    for (Py_ssize_t t = 0; t < all->term_count; t++) {
        const Term *from = &all->terms[t];
        Term *term = &h->terms[t];
        *term = *from;
        term->postings = next;
        term->size = 0;
        for (Py_ssize_t k = 0; k < from->count; k++) {
            Postings cut = from->postings[k];
            const Part *part = &all->parts[cut.part];
            const Py_ssize_t a = lower_bound(cut.docs, cut.len, lo - part->base);
            Py_ssize_t z = lower_bound(cut.docs, cut.len, hi - part->base);
            if (z < a) z = a;
            cut.docs += a;
            cut.tfs += a;
            cut.len = z - a;
            cut.at = 0;
            term->postings[k] = cut;
            term->size += cut.len;
            postings += cut.len;
        }
        next += from->count;
    }
    h->s = *all;
    h->s.terms = h->terms;
    h->s.skipped = 0;
    h->s.lo = lo;
    h->s.hi = hi;
    h->s.heap.size = 0;
    h->s.touched = malloc(sizeof(int64_t) * (size_t)(postings + 1));
    h->s.tail = malloc(sizeof(double) * (size_t)(all->term_count + 1));
    h->s.heap.items = malloc(sizeof(double) * (size_t)(all->heap.cap > POOL ? all->heap.cap : POOL));
    h->s.rest = NULL;
    if (h->s.touched == NULL || h->s.tail == NULL || h->s.heap.items == NULL) return 0;
    if (all->rest != NULL) {
        /* The whole search's block bounds after the terms read so far, cut to this half. */
        if (!new_rest(&h->s)) return 0;
        if (h->s.rest_len)
            memcpy(h->s.rest, all->rest + (h->s.rest_from - all->rest_from), sizeof(double) * (size_t)h->s.rest_len);
        rest_maximum(&h->s);
    }
    h->p = *p;
    h->p.count = 0;
    for (Py_ssize_t i = 0; i < p->count; i++) {
        const int64_t g = all->touched[i];
        if (g >= lo && g < hi) h->s.touched[h->p.count++] = g;
    }
    h->p.pool.size = 0;
    for (Py_ssize_t i = 0; i < p->pool.size; i++) {
        const int64_t g = p->pool.docs[i];
        if (g < lo || g >= hi) continue;
        h->p.pool.docs[h->p.pool.size] = g;
        h->p.pool.scores[h->p.pool.size++] = p->pool.scores[i];
    }
    if (h->p.pool.size == POOL)
        for (Py_ssize_t i = POOL / 2 - 1; i >= 0; i--) pool_sift_down(&h->p.pool, i);
    return 1;
}

static void *run_half(void *arg) {
    Half *h = arg;
    read_postings(&h->s, &h->p, h->s.term_count);
    finish(&h->s, &h->p, &h->kept, &h->touched, &h->complete);
    return NULL;
}

/* Runs the search on two threads: the first term, and the seed after it, over every document (so
 * that both halves start from the bar of all of them), then each half of the documents on its own
 * thread. Each half's candidates hold every document of its half that can be among the n best, so
 * together they do. Sets what run sets; falls back to one thread when out of memory. */
static void run_split(Search *s, Py_ssize_t *kept_out, Py_ssize_t *touched_out, int *complete) {
    Progress p = start_progress(s);
    if (!read_postings(s, &p, 1)) {
        finish(s, &p, kept_out, touched_out, complete);
        return;
    }
    int64_t docs = 0;
    for (Py_ssize_t k = 0; k < s->part_count; k++) {
        const int64_t end = s->parts[k].base + (int64_t)(s->parts[k].len_view.len / 4);
        if (end > docs) docs = end;
    }
    Half halves[2];
    const int ready = make_half(&halves[0], s, &p, 0, docs / 2);
    if (!ready || !make_half(&halves[1], s, &p, docs / 2, docs)) {
        free_half(&halves[0]);
        if (ready) free_half(&halves[1]);
        read_postings(s, &p, s->term_count);
        finish(s, &p, kept_out, touched_out, complete);
        return;
    }
    _Atomic double shared = p.th;
    halves[0].s.shared = halves[1].s.shared = &shared;
    pthread_t other;
    const int started = pthread_create(&other, NULL, run_half, &halves[1]) == 0;
    run_half(&halves[0]);
    if (started) pthread_join(other, NULL);
    else run_half(&halves[1]);
    /* Both halves' candidates fit: each half's touched documents are a share of s's postings. */
    memcpy(s->touched, halves[0].s.touched, sizeof(int64_t) * (size_t)halves[0].kept);
    memcpy(s->touched + halves[0].kept, halves[1].s.touched, sizeof(int64_t) * (size_t)halves[1].kept);
    *kept_out = halves[0].kept + halves[1].kept;
    *touched_out = halves[0].touched + halves[1].touched;
    *complete = halves[0].complete && halves[1].complete;
    free_half(&halves[0]);
    free_half(&halves[1]);
}

/* Releases the buffers of the parts and terms read so far (read_parts and read_terms stop at the
 * first that fails, which may hold some of its buffers), and frees both arrays. */
static void release(Part *parts, Py_ssize_t part_count, Py_ssize_t parts_ready, Term *terms, Py_ssize_t term_count,
                    Py_ssize_t terms_ready) {
    if (parts == NULL || terms == NULL) {
        free(parts);
        free(terms);
        return;
    }
    part_count = parts_ready < part_count ? parts_ready + 1 : part_count;
    term_count = terms_ready < term_count ? terms_ready : term_count;
    for (Py_ssize_t p = 0; p < part_count; p++) {
        if (parts[p].len_view.obj) PyBuffer_Release(&parts[p].len_view);
        if (parts[p].has_alive) PyBuffer_Release(&parts[p].alive_view);
    }
    for (Py_ssize_t t = 0; t < term_count; t++) {
        for (Py_ssize_t k = 0; k < terms[t].count; k++) {
            PyBuffer_Release(&terms[t].postings[k].docs_view);
            PyBuffer_Release(&terms[t].postings[k].tfs_view);
            if (terms[t].postings[k].dense != NULL) PyBuffer_Release(&terms[t].postings[k].dense_view);
            if (terms[t].postings[k].blocks != NULL) PyBuffer_Release(&terms[t].postings[k].blocks_view);
        }
        free(terms[t].postings);
    }
    free(parts);
    free(terms);
}

static int read_parts(PyObject *list, Part *parts, Py_ssize_t *ready, Py_ssize_t size) {
    for (; *ready < PyList_GET_SIZE(list); (*ready)++) {
        PyObject *doc_len, *alive;
        long long base;
        Part *part = &parts[*ready];
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, *ready), "OOL", &doc_len, &alive, &base)) return -1;
        part->base = base;
        if (get_buffer(doc_len, &part->len_view, 4, 0, "doc_len") < 0) return -1;
        part->doc_len = part->len_view.buf;
        if (base < 0 || base + part->len_view.len / 4 > size) {
            PyErr_SetString(PyExc_ValueError, "a part lies outside the scratch arrays");
            return -1;
        }
        if (alive != Py_None) {
            if (get_buffer(alive, &part->alive_view, 1, 0, "alive") < 0) return -1;
            part->has_alive = 1;
            part->alive = part->alive_view.buf;
            if (part->alive_view.len < part->len_view.len / 4) {
                PyErr_SetString(PyExc_ValueError, "alive is shorter than doc_len");
                return -1;
            }
        }
    }
    return 0;
}

static int read_terms(PyObject *list, Term *terms, Py_ssize_t *ready, const Part *parts, Py_ssize_t part_count) {
    for (; *ready < PyList_GET_SIZE(list); (*ready)++) {
        PyObject *postings;
        Term *term = &terms[*ready];
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, *ready), "ddO!", &term->weight, &term->bound, &PyList_Type,
                              &postings))
            return -1;
        if (!(term->weight >= 0) || !(term->bound >= 0)) {
            PyErr_SetString(PyExc_ValueError, "weights and bounds must not be negative");
            return -1;
        }
        Py_ssize_t m = PyList_GET_SIZE(postings);
        term->postings = calloc((size_t)(m ? m : 1), sizeof(Postings));
        if (term->postings == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t k = 0; k < m; k++) {
            PyObject *docs, *tfs, *dense, *blocks = Py_None;
            Postings *p = &term->postings[k];
            if (!PyArg_ParseTuple(PyList_GET_ITEM(postings, k), "nOOO|O", &p->part, &docs, &tfs, &dense, &blocks))
                return -1;
            if (p->part < 0 || p->part >= part_count) {
                PyErr_SetString(PyExc_ValueError, "postings of an unknown part");
                return -1;
            }
            if (get_buffer(docs, &p->docs_view, 4, 0, "docs") < 0) return -1;
            if (get_buffer(tfs, &p->tfs_view, 2, 0, "tfs") < 0) {
                PyBuffer_Release(&p->docs_view);
                return -1;
            }
            term->count = k + 1;
            if (dense != Py_None) {
                if (PyObject_GetBuffer(dense, &p->dense_view, PyBUF_C_CONTIGUOUS) < 0) return -1;
                p->dense = p->dense_view.buf;
                p->dense_size = p->dense_view.itemsize;
                if ((p->dense_size != 1 && p->dense_size != 2) ||
                    p->dense_view.len / p->dense_size < parts[p->part].len_view.len / 4) {
                    PyErr_SetString(PyExc_ValueError, "a dense tf array must hold 1- or 2-byte tfs of every document");
                    return -1;
                }
            }
            if (blocks != Py_None) {
                if (get_buffer(blocks, &p->blocks_view, 1, 0, "blocks") < 0) return -1;
                p->blocks = p->blocks_view.buf;
                const Py_ssize_t docs_here = parts[p->part].len_view.len / 4;
                if (p->blocks_view.len < (docs_here + (1 << BLOCK_SHIFT) - 1) >> BLOCK_SHIFT) {
                    PyErr_SetString(PyExc_ValueError, "block bounds must cover every document of the part");
                    return -1;
                }
            }
            p->docs = p->docs_view.buf;
            p->tfs = p->tfs_view.buf;
            p->len = p->docs_view.len / 4;
            term->size += p->len;
            if (p->len != p->tfs_view.len / 2) {
                PyErr_SetString(PyExc_ValueError, "docs and tfs differ in length");
                return -1;
            }
            /* Documents ascend within a term: its first and last must lie inside the part, since the
             * loops index doc_len and the scratch with them. */
            if (p->len > 0 && (p->docs[0] < 0 || p->docs[p->len - 1] >= parts[p->part].len_view.len / 4)) {
                PyErr_SetString(PyExc_ValueError, "a posting names a document outside its part");
                return -1;
            }
        }
        term->blocked = m > 0;
        for (Py_ssize_t k = 0; k < m; k++) term->blocked &= term->postings[k].blocks != NULL;
    }
    return 0;
}

static PyObject *top_candidates(PyObject *self, PyObject *args) {
    PyObject *part_list, *term_list, *acc_obj, *seen_obj;
    Py_ssize_t n, threads = 1;
    double avgdl, k1, b, margin;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!OOndddd|n", &PyList_Type, &part_list, &PyList_Type, &term_list, &acc_obj,
                          &seen_obj, &n, &avgdl, &k1, &b, &margin, &threads))
        return NULL;
    if (n <= 0 || !(avgdl > 0) || !(k1 > 0) || b < 0 || b > 1 || !(margin >= 0)) {
        PyErr_SetString(PyExc_ValueError, "top_candidates needs n > 0, avgdl > 0, k1 > 0, 0 <= b <= 1, margin >= 0");
        return NULL;
    }
    Py_buffer acc_view, seen_view;
    if (get_buffer(acc_obj, &acc_view, 8, 1, "acc") < 0) return NULL;
    if (get_buffer(seen_obj, &seen_view, 1, 1, "seen") < 0) {
        PyBuffer_Release(&acc_view);
        return NULL;
    }
    Py_ssize_t part_count = PyList_GET_SIZE(part_list), term_count = PyList_GET_SIZE(term_list);
    Py_ssize_t parts_ready = 0, terms_ready = 0;
    Part *parts = calloc((size_t)(part_count ? part_count : 1), sizeof(Part));
    Term *terms = calloc((size_t)(term_count ? term_count : 1), sizeof(Term));
    PyObject *result = NULL;
    Py_ssize_t size = acc_view.len / 8;
    if (parts == NULL || terms == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (seen_view.len < size) {
        PyErr_SetString(PyExc_ValueError, "seen is shorter than acc");
        goto done;
    }
    if (read_parts(part_list, parts, &parts_ready, size) < 0) goto done;
    if (read_terms(term_list, terms, &terms_ready, parts, part_count) < 0) {
        terms_ready++; /* the failing term's postings are released too */
        goto done;
    }
    Py_ssize_t postings = 0;
    for (Py_ssize_t t = 0; t < term_count; t++)
        for (Py_ssize_t k = 0; k < terms[t].count; k++) postings += terms[t].postings[k].len;
    Search s = {.parts = parts,
                .part_count = part_count,
                .terms = terms,
                .term_count = term_count,
                .acc = acc_view.buf,
                .seen = seen_view.buf,
                .heap = {NULL, 0, n},
                .k1 = k1,
                .k1p = k1 + 1,
                .base_norm = 1 - b,
                .scale = b / avgdl,
                .margin = margin,
                .lo = 0,
                .hi = INT64_MAX,
                .unit = (k1 + 1) / BLOCK_LEVELS};
    s.heap.items = malloc(sizeof(double) * (size_t)(n > POOL ? n : POOL)); /* seed() uses POOL */
    s.touched = malloc(sizeof(int64_t) * (size_t)(postings + 1)); /* + 1: see sort_candidates */
    s.tail = malloc(sizeof(double) * (size_t)(term_count + 1));
    int blocked = 0;
    for (Py_ssize_t t = 0; t < term_count; t++) blocked |= terms[t].blocked;
    if (s.heap.items == NULL || s.touched == NULL || s.tail == NULL || (blocked && !new_rest(&s))) {
        free(s.heap.items);
        free(s.touched);
        free(s.tail);
        free(s.rest);
        PyErr_NoMemory();
        goto done;
    }
    if (blocked) build_rest(&s, 0);
    Py_ssize_t kept = 0, touched = 0;
    int complete = 0;
    Py_BEGIN_ALLOW_THREADS
    if (threads > 1 && term_count > 1) run_split(&s, &kept, &touched, &complete);
    else run(&s, &kept, &touched, &complete);
    Py_END_ALLOW_THREADS
    free(s.heap.items);
    free(s.tail);
    free(s.rest);
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)s.touched, kept * (Py_ssize_t)sizeof(int64_t));
    free(s.touched);
    if (bytes != NULL) result = Py_BuildValue("NnO", bytes, touched, complete ? Py_True : Py_False);
done:
    release(parts, part_count, parts_ready, terms, term_count, terms_ready);
    PyBuffer_Release(&acc_view);
    PyBuffer_Release(&seen_view);
    return result;
}

/* exact_scores(parts, terms, candidates, avgdl, k1, b) -> bytes of float64
 *   parts and terms as top_candidates' (each term's weight is its idf; bounds are not used), the terms
 *   in the question's order, a repeated term repeated; candidates: sorted int64 global indexes.
 * Each candidate's BM25 score exactly as rank-bm25 computes it (see index/engine/scoring.py): term by
 * term in the given order, score + idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))),
 * each operation in that order (built with -ffp-contract=off: no fused multiply-adds). */
static PyObject *exact_scores(PyObject *self, PyObject *args) {
    PyObject *part_list, *term_list, *cand_obj;
    double avgdl, k1, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!Oddd", &PyList_Type, &part_list, &PyList_Type, &term_list, &cand_obj, &avgdl,
                          &k1, &b))
        return NULL;
    Py_buffer cand_view;
    if (get_buffer(cand_obj, &cand_view, 8, 0, "candidates") < 0) return NULL;
    const int64_t *cand = cand_view.buf;
    const Py_ssize_t count = cand_view.len / 8;
    Py_ssize_t part_count = PyList_GET_SIZE(part_list), term_count = PyList_GET_SIZE(term_list);
    Py_ssize_t parts_ready = 0, terms_ready = 0;
    Part *parts = calloc((size_t)(part_count ? part_count : 1), sizeof(Part));
    Term *terms = calloc((size_t)(term_count ? term_count : 1), sizeof(Term));
    double *score = calloc((size_t)(count ? count : 1), sizeof(double));
    PyObject *result = NULL;
    if (parts == NULL || terms == NULL || score == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (cand[i] < 0 || (i > 0 && cand[i] <= cand[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "candidates must be increasing global indexes");
            goto done;
        }
    }
    if (read_parts(part_list, parts, &parts_ready, PY_SSIZE_T_MAX) < 0) goto done;
    if (read_terms(term_list, terms, &terms_ready, parts, part_count) < 0) {
        terms_ready++;
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    const double k1p = k1 + 1, base_norm = 1 - b;
    for (Py_ssize_t t = 0; t < term_count; t++) {
        Term *term = &terms[t];
        for (Py_ssize_t i = 0; i < count; i++) {
            int32_t doc;
            Postings *post = postings_of(parts, term, cand[i], &doc);
            const double tf = post != NULL ? tf_after(post, doc) : 0;
            if (tf > 0) {
                const double norm = k1 * (base_norm + b * (double)parts[post->part].doc_len[doc] / avgdl);
                score[i] = score[i] + term->weight * (tf * k1p / (tf + norm));
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)score, count * (Py_ssize_t)sizeof(double));
done:
    release(parts, part_count, parts_ready, terms, term_count, terms_ready);
    free(score);
    PyBuffer_Release(&cand_view);
    return result;
}

static PyMethodDef methods[] = {
    {"top_candidates", top_candidates, METH_VARARGS,
     "Candidates for the n best documents (see the module's source)."},
    {"exact_scores", exact_scores, METH_VARARGS, "rank-bm25's scores of the candidates (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_clippings_kernel", NULL, -1, methods};

PyMODINIT_FUNC PyInit__clippings_kernel(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    /* The block bounds' layout this build reads (index/engine/segments.py must agree to pass them). */
    if (PyModule_AddIntConstant(m, "BLOCK_SHIFT", BLOCK_SHIFT) < 0 ||
        PyModule_AddIntConstant(m, "BLOCK_LEVELS", BLOCK_LEVELS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
