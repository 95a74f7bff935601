"""py3langid's naive Bayes language identifier, scored for many texts in one vectorised pass.

py3langid walks each text byte by byte in a Python loop through its n-gram automaton (~0.5 µs a
byte), which made language the second most expensive evaluator. Here every text is cut into
CHUNK-byte pieces that are walked side by side as numpy columns, CHUNK + WARMUP steps for the whole
batch instead of one Python step per byte.

Why the pieces give exactly py3langid's counts: the automaton is an Aho-Corasick machine over byte
n-grams, so its state after any input is the longest suffix of that input that is a prefix of some
n-gram, never longer than the deepest state (6 bytes in the shipped model; the test computes it by
breadth-first search). A piece that starts WARMUP >= that depth bytes early, from the start state,
reaches the same state as the full walk by the time it counts its first byte. Feature counts then
go through the same model (log1p(count) @ P(feature|language) + prior, the length temperature,
softmax, alias folding). Per text the arithmetic does not depend on the other texts of the batch
(features are summed in feature-id order), so a batch gives each text the figures it gets alone.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

CHUNK = 64  # bytes each piece counts
WARMUP = 8  # bytes each piece reads before counting: >= the automaton's depth (6)
_FEATURE_BITS = 20  # feature ids (~100k in the shipped model) fit below this bit
_FEATURE_MASK = (1 << _FEATURE_BITS) - 1


class BatchIdentifier:
    """Wraps a loaded py3langid LanguageIdentifier (norm_probs=True), sharing its arrays."""

    def __init__(self, identifier: Any) -> None:
        self._identifier = identifier
        self.next_move = np.frombuffer(identifier.tk_nextmove, dtype=np.uint32)  # no copy (~39 MB)
        self.row_base = np.asarray(identifier._rowbase, dtype=np.int64)
        self.output = np.asarray(identifier.tk_output, dtype=np.int64)
        # features x languages; float32 for scipy's sparse product (~57 MB, the float16 original ~28 MB).
        self.p_feature = np.asarray(identifier.nb_ptc, dtype=np.float32)
        self.prior = identifier.nb_pc
        self.classes = list(identifier.nb_classes)
        self.alias_pairs = list(identifier._alias_pairs)

    def encode(self, text: str) -> bytes:
        return self._identifier._encode(text)

    def feature_counts(self, encoded: list[bytes]) -> sparse.csr_matrix:
        """texts x features: how often each n-gram feature occurs in each text."""
        # Imported here, not at the top: the web loads the evaluator registry (settings pages) and
        # never identifies a language; scipy.sparse would cost it memory for nothing.
        from scipy import sparse

        lengths = np.asarray([len(e) for e in encoded], dtype=np.int64)
        shape = (len(encoded), self.p_feature.shape[0])
        assert shape[1] <= _FEATURE_MASK
        if not lengths.sum():
            return sparse.csr_matrix(shape, dtype=np.float32)
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pieces = (lengths + CHUNK - 1) // CHUNK
        owner = np.repeat(np.arange(len(encoded)), pieces)
        first = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        piece_start = starts[owner] + first * CHUNK
        # Steps x pieces, so that each step reads one contiguous row.
        position = np.arange(-WARMUP, CHUNK)[:, None] + piece_start[None, :]
        inside = (position >= starts[owner][None, :]) & (position < (starts + lengths)[owner][None, :])
        byte = data[np.clip(position, 0, len(data) - 1)]
        state = np.zeros(len(owner), dtype=np.int64)
        found = np.empty((CHUNK, len(owner)), dtype=np.int32)
        for step in range(WARMUP + CHUNK):
            moved = self.next_move[self.row_base[state] + byte[step]]
            state = np.where(inside[step], moved, state)
            if step >= WARMUP:
                found[step - WARMUP] = self.output[state]
        # (text, feature) keys sorted, then runs counted: the counts, each text's features in
        # column order (scipy's sum_duplicates did the same, at twice the cost).
        hit = inside[WARMUP:] & (found >= 0)
        keys = np.sort((np.broadcast_to(owner, found.shape)[hit].astype(np.int64) << _FEATURE_BITS) | found[hit])
        if not len(keys):
            return sparse.csr_matrix(shape, dtype=np.float32)
        starts_of_runs = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        unique = keys[starts_of_runs]
        times = np.diff(np.r_[starts_of_runs, len(keys)]).astype(np.float32)
        rows = unique >> _FEATURE_BITS
        indptr = np.searchsorted(rows, np.arange(len(encoded) + 1))
        counts = sparse.csr_matrix((times, (unique & _FEATURE_MASK).astype(np.int32), indptr), shape=shape)
        counts.has_canonical_format = True
        return counts

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """texts x languages, each row as py3langid's normalised `_decide` gives it."""
        encoded = [self.encode(t) for t in texts]
        counts = self.feature_counts(encoded)
        counts.data = np.log1p(counts.data)
        # scipy sums each row over its features in column order, in C, independently of the
        # other rows: a text gets the same figures in any batch.
        scores = np.asarray(counts @ self.p_feature, dtype=np.float32)
        has_features = np.diff(counts.indptr) > 0
        scores = np.where(has_features[:, None], scores + self.prior.astype(np.float32), np.float32(0.0))
        # py3langid's temperature: sqrt(bytes) keeps the softmax calibrated across lengths.
        lengths = np.asarray([len(text) or 1 for text in encoded], dtype=np.float64)
        scores = scores * (1.0 / np.sqrt(lengths)).astype(np.float32)[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        for a, b in self.alias_pairs:  # a duplicated label's share goes to its first column
            scores[:, a] += scores[:, b]
            scores[:, b] = 0.0
        return scores

    def rank_many(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """Every language per text, most likely first, one entry per label (py3langid's `rank`)."""
        ranked = []
        for row in self.probabilities(texts).tolist():
            merged: dict[str, float] = {}
            for label, probability in zip(self.classes, row, strict=True):
                merged.setdefault(label, probability)
            ranked.append(sorted(merged.items(), key=lambda item: item[1], reverse=True))
        return ranked


_loaded: BatchIdentifier | None = None
_lock = threading.Lock()


def identifier() -> BatchIdentifier | None:
    """The shared identifier, loaded on first use (~0.5 s); None when py3langid is missing."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                try:
                    from py3langid.langid import MODEL_FILE, LanguageIdentifier
                except ImportError:
                    return None
                _loaded = BatchIdentifier(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    return _loaded
