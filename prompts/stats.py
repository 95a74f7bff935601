"""Experiment statistics on aggregated figures (rows the rollups already summed), using scipy.stats
wherever it has the test. Pure functions: counts in, results out.

Not here yet (docs/prompts.md, "Not yet"): Welch's t on score means and cost per call needs each
arm's variance, which the score rollups cannot give until they keep sums of squares; always-valid
sequential intervals; latency intervals from the sketches.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SRM_ALPHA = 0.001  # a sample-ratio mismatch below this p hides every verdict
ALPHA = 0.05  # false discovery rate across one experiment's metrics (Benjamini–Hochberg)
MIN_SAMPLE = 100  # per arm, for a proportion to get a verdict


@dataclass(frozen=True)
class Srm:
    chi2: float
    p: float

    @property
    def mismatch(self) -> bool:
        return self.p < SRM_ALPHA


def srm(observed: Sequence[int], weights: Sequence[float]) -> Srm | None:
    """Chi-square goodness of fit of the observed split against the weights; None without data."""
    total = sum(observed)
    if total == 0:
        return None
    weight_sum = float(sum(weights))
    expected = [total * w / weight_sum for w in weights]
    from scipy import stats  # here, not at the top: the web imports this module; scipy is ~40 MB

    result = stats.chisquare(list(observed), f_exp=expected)
    return Srm(chi2=float(result.statistic), p=float(result.pvalue))


@dataclass(frozen=True)
class Comparison:
    control: float
    treatment: float
    difference: float
    z: float
    p: float


def two_proportions(x_control: int, n_control: int, x_treatment: int, n_treatment: int) -> Comparison | None:
    """Two-sided pooled two-proportion z-test; None when an arm is empty or nothing differs."""
    if n_control <= 0 or n_treatment <= 0:
        return None
    p1, p2 = x_control / n_control, x_treatment / n_treatment
    pooled = (x_control + x_treatment) / (n_control + n_treatment)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    if se == 0:
        return Comparison(p1, p2, p2 - p1, 0.0, 1.0)
    z = (p2 - p1) / se
    from scipy import stats

    return Comparison(p1, p2, p2 - p1, z, float(2 * stats.norm.sf(abs(z))))


def welch(mean_control: float, var_control: float, n_control: int, mean_treatment: float, var_treatment: float,
          n_treatment: int) -> Comparison | None:
    """Welch's t-test from each arm's mean, variance (ddof=1) and size (for when rollups keep sums
    of squares)."""
    if n_control < 2 or n_treatment < 2:
        return None
    from scipy import stats

    result = stats.ttest_ind_from_stats(mean_treatment, math.sqrt(var_treatment), n_treatment,
                                        mean_control, math.sqrt(var_control), n_control, equal_var=False)
    return Comparison(mean_control, mean_treatment, mean_treatment - mean_control, float(result.statistic),
                      float(result.pvalue))


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Adjusted p-values (scipy.stats.false_discovery_control, method "bh")."""
    if not pvalues:
        return []
    from scipy import stats

    return [float(p) for p in stats.false_discovery_control(list(pvalues), method="bh")]


def verdict(comparison: Comparison | None, adjusted_p: float | None, *, lower_is_better: bool, n_control: int,
            n_treatment: int, min_sample: int = MIN_SAMPLE, srm_mismatch: bool = False) -> str:
    """"better", "worse" or "inconclusive" (for the treatment against the control)."""
    if (comparison is None or adjusted_p is None or srm_mismatch or min(n_control, n_treatment) < min_sample
            or adjusted_p >= ALPHA or comparison.difference == 0):
        return "inconclusive"
    improved = comparison.difference < 0 if lower_is_better else comparison.difference > 0
    return "better" if improved else "worse"
