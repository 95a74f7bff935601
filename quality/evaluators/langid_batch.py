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
from typing import Any

import numpy as np
from scipy import sparse

CHUNK = 64  # bytes each piece counts
WARMUP = 8  # bytes each piece reads before counting: >= the automaton's depth (6)


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

    def feature_counts(self, encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text index, feature id, count) triples, sorted by text then feature."""
        lengths = np.asarray([len(e) for e in encoded], dtype=np.int64)
        if not lengths.sum():
            return (np.zeros(0, np.int64),) * 3  # type: ignore[return-value]
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pieces = (lengths + CHUNK - 1) // CHUNK
        owner = np.repeat(np.arange(len(encoded)), pieces)
        first = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        piece_start = starts[owner] + first * CHUNK
        offsets = np.arange(-WARMUP, CHUNK)
        position = piece_start[:, None] + offsets[None, :]
        inside = (position >= starts[owner][:, None]) & (position < (starts + lengths)[owner][:, None])
        counted = inside & (offsets >= 0)[None, :]
        byte = data[np.clip(position, 0, len(data) - 1)]
        state = np.zeros(len(owner), dtype=np.int64)
        found_owner, found_feature = [], []
        for step in range(WARMUP + CHUNK):
            moved = self.next_move[self.row_base[state] + byte[:, step]]
            state = np.where(inside[:, step], moved, state)
            feature = self.output[state]
            hit = counted[:, step] & (feature >= 0)
            found_owner.append(owner[hit])
            found_feature.append(feature[hit])
        key = np.concatenate(found_owner) * len(self.p_feature) + np.concatenate(found_feature)
        unique, counts = np.unique(key, return_counts=True)
        return unique // len(self.p_feature), unique % len(self.p_feature), counts

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """texts x languages, each row as py3langid's normalised `_decide` gives it."""
        encoded = [self.encode(t) for t in texts]
        text_of, feature, count = self.feature_counts(encoded)
        # A sparse texts x features matrix times the float32 model: scipy sums each row over its
        # features in column order, in C, independently of the other rows.
        counts = sparse.csr_matrix((np.log1p(count.astype(np.float32)), (text_of, feature)),
                                   shape=(len(texts), self.p_feature.shape[0]))
        scores = np.asarray(counts @ self.p_feature, dtype=np.float32)
        has_features = np.zeros(len(texts), dtype=bool)
        has_features[text_of] = True
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
            for label, probability in zip(self.classes, row):
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
