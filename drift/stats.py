"""The drift statistics: pure functions from what the rollups store (sketch histograms, counts,
category counts) to a `Result`. No database, no Django: tested against exact values on raw samples.

Every comparison has a baseline side and a current side. A verdict is one of "drift", "no_drift"
or "not_enough_data": below the minimum sample size per side we say so, never "no drift". A shift
is called drift only when it is both large enough to matter (an effect size past its threshold)
and unlikely to be noise (a test at `ALPHA`): at small counts effect sizes are noisy, at large
counts p-values flag trivial shifts, and requiring both keeps false alarms under 5% on identical
distributions (tests/drift/test_stats.py, 100 seeds per method).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rollups.sketch import MAPPING, RELATIVE_ACCURACY, ZERO_KEY

DRIFT, NO_DRIFT, NOT_ENOUGH = "drift", "no_drift", "not_enough_data"
NONE, MODERATE, MAJOR = "none", "moderate", "major"

ALPHA = 0.05  # significance of the noise guards (KS, two-proportion z, chi-square)
# Evidently's defaults: Wasserstein distance normalised by the baseline's standard deviation, and
# Jensen-Shannon distance, each at 0.1 (docs.evidentlyai.com, "Data drift algorithm").
WASSERSTEIN_THRESHOLD = 0.1
JS_THRESHOLD = 0.1
# Cohen's h (2·asin√p₂ − 2·asin√p₁), the effect size of a difference of proportions; 0.2 is
# Cohen's "small". We flag from half of it: an error rate 1% → 2.3% or 10% → 15%.
COHEN_H_THRESHOLD = 0.1
# The usual PSI bands (Siddiqi, "Credit Risk Scorecards", 2006): < 0.1 none, 0.1-0.25 moderate, > 0.25 major.
PSI_BANDS = (0.1, 0.25)
PSI_EMPTY_SHARE = 1e-4  # a category absent on one side counts as this share (Evidently does the same)
MIN_SAMPLES = {"numeric": 100, "rate": 200, "mix": 100}
TOP_MOVED = 5


@dataclass
class Result:
    method: str
    verdict: str
    statistic: float | None = None
    low: float | None = None  # the statistic's interval (bound) when it is estimated from sketches
    high: float | None = None
    threshold: float = 0.0
    n_baseline: int = 0
    n_current: int = 0
    baseline_value: float | None = None  # mean, rate, ... for "baseline → current"
    current_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """How far past its threshold (ranking "what changed most"): 0 unless it is drift."""
        if self.verdict != DRIFT or self.statistic is None or not self.threshold:
            return 0.0
        return abs(self.statistic) / self.threshold

    @property
    def severity(self) -> str:
        if self.verdict != DRIFT:
            return NONE
        if self.method == "domain_classifier":  # ROC AUC: 0.75 and up is a classifier that tells the sides apart well
            return MAJOR if (self.statistic or 0) >= 0.75 else MODERATE
        if self.method == "jensen_shannon" and self.details.get("psi_band"):
            return MAJOR if self.details["psi_band"] == MAJOR else MODERATE
        return MAJOR if self.score >= 2.5 else MODERATE


def _not_enough(method: str, threshold: float, n_b: int, n_c: int, minimum: int) -> Result:
    return Result(method, NOT_ENOUGH, threshold=threshold, n_baseline=n_b, n_current=n_c,
                  details={"min_samples": minimum})


# --- Histograms of sketch keys --------------------------------------------------------------------

def key_values(keys: np.ndarray) -> np.ndarray:
    """Each key's representative value (rollups.sketch.value_of, vectorised): within α of every value in
    its bucket. LogarithmicMapping.value(k) is γ^(k − offset)·2/(1 + γ); the zero key reads as 0."""
    keys = np.asarray(keys, dtype=np.float64)
    gamma = MAPPING.gamma
    values = np.power(gamma, keys - getattr(MAPPING, "_offset", 0.0)) * (2.0 / (1 + gamma))
    return np.where(keys <= ZERO_KEY, 0.0, values)


def key_edges(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) edge of each key's bucket. DDSketch's key k holds (γ^(k-1), γ^k] and reads back as
    γ^k·2/(1+γ) (ddsketch.mapping.KeyMapping.value), so the upper edge is value·(1+γ)/2. The zero key
    holds exactly 0: both edges 0."""
    gamma = MAPPING.gamma
    upper = key_values(keys) * (1 + gamma) / 2
    lower = upper / gamma
    zero = np.asarray(keys) <= ZERO_KEY
    return np.where(zero, 0.0, lower), np.where(zero, 0.0, upper)


def _aligned(baseline: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(union of keys ascending, baseline counts, current counts) on those keys."""
    (kb, cb), (kc, cc) = baseline, current
    keys = np.union1d(np.asarray(kb, dtype=np.int64), np.asarray(kc, dtype=np.int64))
    b = np.zeros(len(keys), dtype=np.float64)
    c = np.zeros(len(keys), dtype=np.float64)
    b[np.searchsorted(keys, kb)] = cb
    c[np.searchsorted(keys, kc)] = cc
    return keys, b, c


def ks_interval(baseline: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray]
                ) -> tuple[float, float]:
    """[L, U] holding the two-sample Kolmogorov-Smirnov statistic D = sup |F_b − F_c| of the raw samples.

    Both sides are binned on the same bucket edges, so each empirical CDF is known exactly at every
    edge: the largest gap there is a lower bound L. Inside one bucket the order of the samples is
    unknown: each CDF climbs from its value at the lower edge to its value at the upper edge in any
    way, so the gap inside the bucket is at most max(F_b(hi) − F_c(lo), F_c(hi) − F_b(lo)); the largest
    of those over the buckets is U. Between buckets nothing lies, so the CDFs are flat there."""
    keys, b, c = _aligned(baseline, current)
    if not b.sum() or not c.sum():
        return 0.0, 1.0
    fb_hi, fc_hi = np.cumsum(b) / b.sum(), np.cumsum(c) / c.sum()
    fb_lo, fc_lo = fb_hi - b / b.sum(), fc_hi - c / c.sum()
    low = float(np.max(np.abs(fb_hi - fc_hi)))
    inside = np.maximum(fb_hi - fc_lo, fc_hi - fb_lo)
    inside = np.where(keys <= ZERO_KEY, np.abs(fb_hi - fc_hi), inside)  # a point mass at 0: no inside
    return low, float(min(1.0, max(low, float(np.max(inside)))))


def _moments(values: np.ndarray, counts: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, std, E|X|, sqrt(E X²)) of a histogram."""
    n = counts.sum()
    mean = float(np.dot(values, counts) / n)
    second = float(np.dot(values * values, counts) / n)
    return mean, math.sqrt(max(second - mean * mean, 0.0)), float(np.dot(np.abs(values), counts) / n), math.sqrt(second)


def numeric_compare(baseline: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray], *,
                    threshold: float = WASSERSTEIN_THRESHOLD, min_samples: int = MIN_SAMPLES["numeric"],
                    alpha: float = RELATIVE_ACCURACY) -> Result:
    """Two sketch histograms ((keys, counts), as rollups.selectors.distribution returns them):
    Wasserstein-1 over the baseline's standard deviation, with its error bound, and the KS interval.

    W1 comes from scipy.stats.wasserstein_distance on each bucket's representative value weighted by
    its count: the exact W1 of the two "rounded" samples. Every value moved by at most α·|x| (the
    sketch's relative accuracy), and W1 is a distance, so by the triangle inequality the raw samples'
    W1 differs from it by at most α·(E|X| + E|Y|); E|X| ≤ E|X̂|/(1 − α) turns it into what we can
    compute. The baseline's std is off by at most α·√E X² (rounding is a move of L2 norm ≤ α‖X‖₂,
    and centring cannot lengthen it). Both give the interval [low, high] of W1/σ shown with it."""
    # scipy is imported where it is used: every web and worker process loads this module at start
    # (drift registers an alerts source), and scipy.stats alone is ~40 MB of resident memory.
    from scipy import stats as sps

    method = "wasserstein"
    (kb, cb), (kc, cc) = baseline, current
    cb, cc = np.asarray(cb, dtype=np.float64), np.asarray(cc, dtype=np.float64)
    n_b, n_c = int(cb.sum()), int(cc.sum())
    if n_b < min_samples or n_c < min_samples:
        return _not_enough(method, threshold, n_b, n_c, min_samples)
    vb, vc = key_values(kb), key_values(kc)
    mean_b, std_b, abs_b, rms_b = _moments(vb, cb)
    mean_c, _, abs_c, _ = _moments(vc, cc)
    w1 = float(sps.wasserstein_distance(vb, vc, u_weights=cb, v_weights=cc))
    w1_error = alpha / (1 - alpha) * (abs_b + abs_c)
    std_error = alpha / (1 - alpha) * rms_b
    ks_low, ks_high = ks_interval((kb, cb), (kc, cc))
    # The KS test on the lower end of the interval: conservative, it never overstates significance.
    # Asymptotic two-sample distribution (Smirnov): P(D > d) ≈ kstwobign.sf(d·√(n·m/(n+m))).
    p_value = float(sps.kstwobign.sf(ks_low * math.sqrt(n_b * n_c / (n_b + n_c))))
    details = {"w1": w1, "w1_error": w1_error, "baseline_std": std_b, "std_error": std_error,
               "ks_low": ks_low, "ks_high": ks_high, "ks_p_value": p_value, "alpha": alpha}
    if std_b <= 0:  # a constant baseline: any move is infinitely many σ; judge on KS alone
        statistic, low, high = (math.inf if w1 > w1_error else 0.0), None, None
        drift = w1 > w1_error and p_value < ALPHA
    else:
        statistic = w1 / std_b
        low = max(w1 - w1_error, 0.0) / (std_b + std_error)
        high = (w1 + w1_error) / (std_b - std_error) if std_b > std_error else math.inf
        drift = statistic >= threshold and p_value < ALPHA
    return Result(method, DRIFT if drift else NO_DRIFT, statistic=statistic, low=low, high=high, threshold=threshold,
                  n_baseline=n_b, n_current=n_c, baseline_value=mean_b, current_value=mean_c, details=details)


# --- Rates ----------------------------------------------------------------------------------------

def rate_compare(baseline_hits: int, baseline_n: int, current_hits: int, current_n: int, *,
                 threshold: float = COHEN_H_THRESHOLD, min_samples: int = MIN_SAMPLES["rate"]) -> Result:
    """A proportion on each side: absolute and relative change, the pooled two-proportion z-test
    (z = (p₂ − p₁)/√(p(1−p)(1/n₁ + 1/n₂)), p the pooled rate; normal tail from scipy.stats.norm), and
    Cohen's h as the effect size that decides at large counts."""
    from scipy import stats as sps

    method = "two_proportion_z"
    if baseline_n < min_samples or current_n < min_samples:
        return _not_enough(method, threshold, baseline_n, current_n, min_samples)
    p1, p2 = baseline_hits / baseline_n, current_hits / current_n
    pooled = (baseline_hits + current_hits) / (baseline_n + current_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / baseline_n + 1 / current_n))
    z = (p2 - p1) / se if se else 0.0
    p_value = float(2 * sps.norm.sf(abs(z)))
    h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
    drift = abs(h) >= threshold and p_value < ALPHA
    details = {"absolute_change": p2 - p1, "relative_change": (p2 - p1) / p1 if p1 else None, "z": z,
               "p_value": p_value, "cohens_h": h, "baseline_hits": baseline_hits, "current_hits": current_hits}
    return Result(method, DRIFT if drift else NO_DRIFT, statistic=h, threshold=threshold, n_baseline=baseline_n,
                  n_current=current_n, baseline_value=p1, current_value=p2, details=details)


# --- Mixes ----------------------------------------------------------------------------------------

def psi_band(psi: float) -> str:
    return NONE if psi < PSI_BANDS[0] else (MODERATE if psi <= PSI_BANDS[1] else MAJOR)


def mix_compare(baseline: dict[str, int], current: dict[str, int], *, threshold: float = JS_THRESHOLD,
                min_samples: int = MIN_SAMPLES["mix"], top: int = TOP_MOVED) -> Result:
    """Category counts on each side: Jensen-Shannon distance (scipy, base 2: 0 same, 1 disjoint), PSI
    = Σ (c − b)·ln(c/b) over the shares with its band, a chi-square test of homogeneity as the noise
    guard, and the categories whose share moved most."""
    from scipy import stats as sps
    from scipy.spatial.distance import jensenshannon

    method = "jensen_shannon"
    names = sorted(set(baseline) | set(current))
    b = np.asarray([baseline.get(n, 0) for n in names], dtype=np.float64)
    c = np.asarray([current.get(n, 0) for n in names], dtype=np.float64)
    n_b, n_c = int(b.sum()), int(c.sum())
    if n_b < min_samples or n_c < min_samples:
        return _not_enough(method, threshold, n_b, n_c, min_samples)
    pb, pc = b / n_b, c / n_c
    js = float(jensenshannon(pb, pc, base=2)) if len(names) > 1 else 0.0
    eb, ec = np.maximum(pb, PSI_EMPTY_SHARE), np.maximum(pc, PSI_EMPTY_SHARE)
    psi = float(np.sum((ec - eb) * np.log(ec / eb)))
    p_value = 1.0
    if len(names) > 1:
        p_value = float(sps.chi2_contingency(np.vstack([b, c]))[1])
    order = np.argsort(-np.abs(pc - pb), kind="stable")[:top]
    moved = [{"category": names[i], "baseline_share": float(pb[i]), "current_share": float(pc[i]),
              "baseline_count": int(b[i]), "current_count": int(c[i])} for i in order if pb[i] != pc[i]]
    drift = js >= threshold and p_value < ALPHA
    details = {"psi": psi, "psi_band": psi_band(psi), "chi2_p_value": p_value, "moved": moved,
               "categories": len(names)}
    # "baseline → current" of a mix: the share of the category that moved most (named in details).
    first = moved[0] if moved else None
    return Result(method, DRIFT if drift else NO_DRIFT, statistic=js, threshold=threshold, n_baseline=n_b,
                  n_current=n_c, baseline_value=first["baseline_share"] if first else None,
                  current_value=first["current_share"] if first else None, details=details)
