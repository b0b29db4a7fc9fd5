/* The ranker's two per-sentence loops (index/rank/features.py), in C: the best share of question
 * terms one sentence holds, and the best share within PROXIMITY consecutive words of one sentence.
 *
 * best_shares(sequences, sentence_masks, window_masks, attributed, shares, proximity,
 *             want_sentence, want_window) -> (sentence: float, window: float)
 *   sequences: list of lists of str, a passage's sentences' terms in order;
 *   sentence_masks: dict of str -> int, the question terms each matched word stands for (one bit a
 *                   term, fewer than 65 terms);
 *   window_masks: the same with role nouns added, or None when it is sentence_masks;
 *   attributed: the mask of the terms every sentence holds through attribution;
 *   shares: a mapping of mask -> float (features._Shares: each mask's share, computed in Python, so
 *           both paths read the very same floats);
 *   proximity: the window's size in words.
 * It runs exactly the loops of features._best_shares_python, which is the reference (tests compare
 * them); only the word lookups and the masks' unions leave the interpreter.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static int mask_of(PyObject *masks, PyObject *word, uint64_t *mask, int *found) {
    PyObject *value = PyDict_GetItemWithError(masks, word); /* borrowed */
    if (value == NULL) {
        if (PyErr_Occurred()) return -1;
        *found = 0;
        return 0;
    }
    unsigned long long m = PyLong_AsUnsignedLongLong(value);
    if (m == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *mask = (uint64_t)m;
    *found = 1;
    return 0;
}

static int share_of(PyObject *shares, uint64_t mask, double *share) {
    PyObject *key = PyLong_FromUnsignedLongLong(mask);
    if (key == NULL) return -1;
    PyObject *value = PyObject_GetItem(shares, key);
    Py_DECREF(key);
    if (value == NULL) return -1;
    double d = PyFloat_AsDouble(value);
    Py_DECREF(value);
    if (d == -1.0 && PyErr_Occurred()) return -1;
    *share = d;
    return 0;
}

/* The best window share of one sentence's hits (places ascending, each with its mask), given the
 * best found so far: the loop of _best_shares_python, step for step. */
static int best_window(PyObject *shares, const Py_ssize_t *places, const uint64_t *masks, Py_ssize_t count,
                       Py_ssize_t proximity, double *near) {
    uint64_t whole = 0;
    for (Py_ssize_t i = 0; i < count; i++) whole |= masks[i];
    double most;
    if (share_of(shares, whole, &most) < 0) return -1;
    if (most <= *near) return 0;
    if (places[count - 1] - places[0] < proximity) {
        *near = most;
        return 0;
    }
    Py_ssize_t end = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t start = places[i], last = end;
        while (end < count && places[end] - start < proximity) end++;
        if (end > last) {
            uint64_t found = 0;
            for (Py_ssize_t j = i; j < end; j++) found |= masks[j];
            double share;
            if (share_of(shares, found, &share) < 0) return -1;
            if (share > *near) *near = share;
        }
    }
    return 0;
}

static PyObject *best_shares(PyObject *self, PyObject *args) {
    PyObject *sequences, *sentence_masks, *window_masks, *shares;
    unsigned long long attributed;
    Py_ssize_t proximity;
    int want_sentence, want_window;
    if (!PyArg_ParseTuple(args, "O!O!OKOnpp", &PyList_Type, &sequences, &PyDict_Type, &sentence_masks,
                          &window_masks, &attributed, &shares, &proximity, &want_sentence, &want_window))
        return NULL;
    if (window_masks == Py_None) {
        window_masks = sentence_masks;
    } else if (!PyDict_Check(window_masks)) {
        PyErr_SetString(PyExc_TypeError, "window_masks must be a dict or None");
        return NULL;
    }
    int same = window_masks == sentence_masks;
    double sentence = 0.0, near = 0.0;
    Py_ssize_t capacity = 0;
    Py_ssize_t *places = NULL;
    uint64_t *masks = NULL;
    Py_ssize_t sequence_count = PyList_GET_SIZE(sequences);
    for (Py_ssize_t s = 0; s < sequence_count; s++) {
        PyObject *sequence = PyList_GET_ITEM(sequences, s);
        if (!PyList_Check(sequence)) {
            PyErr_SetString(PyExc_TypeError, "each sequence must be a list of str");
            goto fail;
        }
        Py_ssize_t length = PyList_GET_SIZE(sequence);
        if (length > capacity) {
            PyMem_Free(places);
            PyMem_Free(masks);
            capacity = length;
            places = PyMem_Malloc(capacity * sizeof(Py_ssize_t));
            masks = PyMem_Malloc(capacity * sizeof(uint64_t));
            if (places == NULL || masks == NULL) {
                PyErr_NoMemory();
                goto fail;
            }
        }
        uint64_t in_sentence = 0;
        int any = 0;
        Py_ssize_t count = 0;
        for (Py_ssize_t i = 0; i < length; i++) {
            PyObject *word = PyList_GET_ITEM(sequence, i);
            uint64_t mask = 0;
            int found = 0;
            if (want_sentence || same) {
                if (mask_of(sentence_masks, word, &mask, &found) < 0) goto fail;
                if (found && want_sentence) {
                    in_sentence |= mask;
                    any = 1;
                }
            }
            if (want_window) {
                if (!same && mask_of(window_masks, word, &mask, &found) < 0) goto fail;
                if (found) {
                    places[count] = i;
                    masks[count] = mask;
                    count++;
                }
            }
        }
        if (any) {
            double share;
            if (share_of(shares, (uint64_t)attributed | in_sentence, &share) < 0) goto fail;
            if (share > sentence) sentence = share;
        }
        if (count && best_window(shares, places, masks, count, proximity, &near) < 0) goto fail;
    }
    PyMem_Free(places);
    PyMem_Free(masks);
    return Py_BuildValue("(dd)", sentence, near);
fail:
    PyMem_Free(places);
    PyMem_Free(masks);
    return NULL;
}

static PyMethodDef methods[] = {
    {"best_shares", best_shares, METH_VARARGS,
     "The best sentence share and window share of a passage (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_clippings_shares", NULL, -1, methods};

PyMODINIT_FUNC PyInit__clippings_shares(void) { return PyModule_Create(&module); }
