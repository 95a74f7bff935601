"""Topic drift of user inputs, offline: a bounded sample of input text per side (at most
TOPIC_SAMPLE = 5,000 inputs, spread evenly over the window), a TF-IDF domain classifier trained to
tell baseline inputs from current ones (Evidently's text drift method), and topic shares from
k-means on the same TF-IDF. scikit-learn only: nothing is downloaded at run time.

This is the one drift read that is not a rollup: inputs are read from telemetry_callpayload, which
holds them as stored at ingest, i.e. already redacted when the project redacts PII (quality/redaction.py).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection

from drift import stats

TOPIC_SAMPLE = 5000  # inputs per side, at most
MIN_TEXTS = 100  # per side: fewer is "not enough data"
AUC_THRESHOLD = 0.55  # ROC AUC of the classifier above which topics drifted (Evidently's default)
TEXT_CHARS = 2000  # of each input: the classifier needs words, not whole documents
SLICES = 24  # the window is cut in this many slices, each giving its newest TOPIC_SAMPLE / SLICES inputs
MAX_TOPICS = 8
EXAMPLES = 3
WORDS = 10

# The newest inputs of each slice of the window through the (project, start_time) index: an even spread
# without scanning the window or sorting it at random. Each slice looks at its newest SCAN_FACTOR ×
# per_slice calls at most: where payloads are not kept (expired, or never sent) a slice would otherwise
# probe every call it holds for one (28 s over a 10M-call seed whose payloads cover its last hours).
SCAN_FACTOR = 10
_SAMPLE = """
SELECT s.input FROM generate_series(0, %(slices)s - 1) AS g(i)
CROSS JOIN LATERAL (
    SELECT p.input FROM (
        SELECT c.id, c.start_time FROM telemetry_call c
        WHERE c.project_id = %(project)s AND c.kind = 'llm'
          AND c.start_time >= %(start)s + g.i * (%(end)s - %(start)s) / %(slices)s
          AND c.start_time < %(start)s + (g.i + 1) * (%(end)s - %(start)s) / %(slices)s
        ORDER BY c.start_time DESC LIMIT %(scan)s
    ) c JOIN telemetry_callpayload p ON p.call_id = c.id
    WHERE p.input IS NOT NULL
    ORDER BY c.start_time DESC LIMIT %(per_slice)s
) AS s
"""


def input_text(value: Any) -> str:
    """What the user asked: a string input as is; for chat messages, the user turns (else every turn)."""
    if isinstance(value, str):
        return value[:TEXT_CHARS]
    if isinstance(value, dict):
        value = value.get("messages") or [value]
    if isinstance(value, list):
        turns = [m for m in value if isinstance(m, dict)]
        user = [m for m in turns if m.get("role") == "user"] or turns
        parts = []
        for message in user:
            content = message.get("content")
            if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            if isinstance(content, str):
                parts.append(content)
        return " ".join(parts)[:TEXT_CHARS]
    return ""


def sample_inputs(project_id: int, window: tuple[datetime, datetime], limit: int = TOPIC_SAMPLE) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(_SAMPLE, {"project": project_id, "start": window[0], "end": window[1], "slices": SLICES,
                              "per_slice": max(1, limit // SLICES),
                              "scan": SCAN_FACTOR * max(1, limit // SLICES)})
        rows = cur.fetchall()
    texts = []
    for (raw,) in rows:
        value = json.loads(raw) if isinstance(raw, str) else raw
        text = input_text(value).strip()
        if text:
            texts.append(text)
    return texts[:limit]


_TOKEN = r"(?u)\b[^\W\d_][^\W_]{1,}\b"  # words of 2+ letters: numbers and ids do not name topics


def topic_compare(baseline: list[str], current: list[str], *, threshold: float = AUC_THRESHOLD,
                  min_texts: int = MIN_TEXTS, seed: int = 0) -> stats.Result:
    """Domain classifier: TF-IDF + logistic regression, 5-fold cross-validated ROC AUC of telling the
    sides apart (0.5: indistinguishable). Drift when the AUC passes the threshold and the out-of-fold
    scores differ significantly (Mann-Whitney U, whose U/(n₁n₂) is that AUC). Also: the words weighing
    most towards each side, example inputs each side's classifier was surest of, and topic shares."""
    from scipy import stats as sps
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    method = "domain_classifier"
    n_b, n_c = len(baseline), len(current)
    if n_b < min_texts or n_c < min_texts:
        return stats.Result(method, stats.NOT_ENOUGH, threshold=threshold, n_baseline=n_b, n_current=n_c,
                            details={"min_samples": min_texts, "sample_limit": TOPIC_SAMPLE})
    texts = baseline + current
    labels = np.r_[np.zeros(n_b, dtype=int), np.ones(n_c, dtype=int)]
    vectorizer = TfidfVectorizer(max_features=20_000, sublinear_tf=True, min_df=2, stop_words="english",
                                 token_pattern=_TOKEN)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no word left (every input empty or a stop word)
        return stats.Result(method, stats.NO_DRIFT, statistic=0.5, threshold=threshold, n_baseline=n_b,
                            n_current=n_c, details={"note": "no words to compare"})
    classifier = LogisticRegression(solver="liblinear", C=1.0)  # fast on small sparse problems
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_predict(classifier, matrix, labels, cv=folds, method="predict_proba")[:, 1]
    u, p_value = sps.mannwhitneyu(scores[labels == 1], scores[labels == 0], alternative="greater")
    auc = float(u / (n_b * n_c))
    classifier.fit(matrix, labels)
    vocabulary = np.asarray(vectorizer.get_feature_names_out())
    weights = classifier.coef_[0]
    order = np.argsort(weights)
    details: dict[str, Any] = {
        "auc": auc, "p_value": float(p_value), "sample_limit": TOPIC_SAMPLE,
        "current_words": [str(w) for w in vocabulary[order[::-1][:WORDS]]],
        "baseline_words": [str(w) for w in vocabulary[order[:WORDS]]],
        "current_examples": [texts[i][:300] for i in np.argsort(-scores)[:EXAMPLES] if labels[i] == 1],
        "baseline_examples": [texts[i][:300] for i in np.argsort(scores)[:EXAMPLES] if labels[i] == 0],
    }
    details["topics"] = _topic_shares(matrix, vocabulary, labels, KMeans, seed)
    drift = auc > threshold and p_value < stats.ALPHA
    moved = details["topics"][0] if details["topics"] else {}
    return stats.Result(method, stats.DRIFT if drift else stats.NO_DRIFT, statistic=auc, threshold=threshold,
                        n_baseline=n_b, n_current=n_c, baseline_value=moved.get("baseline_share"),
                        current_value=moved.get("current_share"), details=details)


def _topic_shares(matrix: Any, vocabulary: np.ndarray, labels: np.ndarray, kmeans: Any, seed: int
                  ) -> list[dict[str, Any]]:
    """k-means on the TF-IDF rows of both sides; each topic named by its centroid's top terms, with its
    share of each side's inputs. Sorted by how much the share moved."""
    k = int(min(MAX_TOPICS, max(2, matrix.shape[0] // 50), matrix.shape[1]))
    model = kmeans(n_clusters=k, n_init=3, random_state=seed).fit(matrix)
    n_b, n_c = int((labels == 0).sum()), int((labels == 1).sum())
    topics = []
    for topic in range(k):
        terms = vocabulary[np.argsort(-model.cluster_centers_[topic])[:3]]
        members = model.labels_ == topic
        topics.append({"name": " / ".join(str(t) for t in terms),
                       "baseline_share": float((members & (labels == 0)).sum() / n_b),
                       "current_share": float((members & (labels == 1)).sum() / n_c)})
    return sorted(topics, key=lambda t: -abs(t["current_share"] - t["baseline_share"]))
