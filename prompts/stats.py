"""Experiment statistics on aggregated figures (rows the rollups already summed), using scipy.stats
wherever it has the test. Pure functions: counts in, results out.

Every comparison carries two answers: the fixed-horizon test (z or Welch's t, right for one planned
look) and an always-valid confidence sequence (Waudby-Smith et al., asymptotic, with GrowthBook's
tuning), which stays valid however often someone looks. Verdicts use the always-valid one.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SRM_ALPHA = 0.001  # a sample-ratio mismatch below this p hides every verdict
ALPHA = 0.05  # false discovery rate across one experiment's metrics (Benjamini–Hochberg)
MIN_SAMPLE = 100  # per arm, for a proportion to get a verdict
# GrowthBook's default tuning sample size N* for the sequential intervals: the total sample at
# which the confidence sequence is tightest (docs.growthbook.io, "Sequential testing").
SEQUENTIAL_TUNING = 5000


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
    p: float  # fixed-horizon: valid for one planned look only
    # The always-valid interval on the difference (treatment - control) at level ALPHA, and the
    # smallest level at which it would exclude 0 (an always-valid p-value).
    low: float = math.nan
    high: float = math.nan
    p_sequential: float = 1.0


def _rho2(alpha: float = ALPHA, tuning: int = SEQUENTIAL_TUNING) -> float:
    """ρ² of the normal mixture, chosen so the sequence is tightest at `tuning` units
    (Waudby-Smith et al. 2023, eq. 161; GrowthBook's `rho`)."""
    return (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning


def sequential_halfwidth(variance: float, n: int, *, alpha: float = ALPHA, tuning: int = SEQUENTIAL_TUNING) -> float:
    """Half-width of the asymptotic always-valid interval for an estimate whose variance is
    `variance` (σ²_a/n_a + σ²_b/n_b for a difference) after `n` units in all, as GrowthBook computes it:
    σ̂·sqrt(2(Nρ²+1)/(N²ρ²) · log(sqrt(Nρ²+1)/α)) with σ̂² = N·variance."""
    if n <= 0 or variance <= 0:
        return 0.0 if variance == 0 and n > 0 else math.inf
    rho2 = _rho2(alpha, tuning)
    a = n * rho2 + 1
    return math.sqrt(variance * n * 2 * a * math.log(math.sqrt(a) / alpha) / (n * n * rho2))


def sequential_p(difference: float, variance: float, n: int, *, tuning: int = SEQUENTIAL_TUNING) -> float:
    """The smallest α whose always-valid interval (ρ fixed at the design level ALPHA) excludes 0:
    solving the half-width for α gives sqrt(Nρ²+1)·exp(-d²·Nρ²/(2(Nρ²+1)·variance)), capped at 1."""
    if n <= 0:
        return 1.0
    if variance <= 0:
        return 1.0 if difference == 0 else 0.0
    rho2 = _rho2(ALPHA, tuning)
    a = n * rho2 + 1
    return min(1.0, math.sqrt(a) * math.exp(-difference * difference * n * rho2 / (2 * a * variance)))


def _sequential(difference: float, variance: float, n: int) -> dict[str, float]:
    half = sequential_halfwidth(variance, n)
    return {"low": difference - half, "high": difference + half, "p_sequential": sequential_p(difference, variance, n)}


def moments(count: int, total: float, squares: float) -> tuple[float, float] | None:
    """(mean, variance with ddof=1) from a count, a sum and a sum of squares; None under 2 values.
    Floating-point cancellation leaves a tiny variance (even a negative one) where every value is
    equal: it is read as 0."""
    if count < 2:
        return None
    mean = total / count
    variance = (squares - count * mean * mean) / (count - 1)
    # Below this the difference is rounding of the sum of squares (~1e-16 of it), not spread.
    return mean, 0.0 if variance <= 1e-12 * mean * mean else variance


def two_proportions(x_control: int, n_control: int, x_treatment: int, n_treatment: int) -> Comparison | None:
    """Two-sided pooled two-proportion z-test; None when an arm is empty or nothing differs."""
    if n_control <= 0 or n_treatment <= 0:
        return None
    p1, p2 = x_control / n_control, x_treatment / n_treatment
    pooled = (x_control + x_treatment) / (n_control + n_treatment)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    # The sequential interval uses the unpooled variance (it bounds the difference, not only H0).
    sequential = _sequential(p2 - p1, p1 * (1 - p1) / n_control + p2 * (1 - p2) / n_treatment,
                             n_control + n_treatment)
    if se == 0:
        return Comparison(p1, p2, p2 - p1, 0.0, 1.0, **sequential)
    z = (p2 - p1) / se
    from scipy import stats

    return Comparison(p1, p2, p2 - p1, z, float(2 * stats.norm.sf(abs(z))), **sequential)


def welch(mean_control: float, var_control: float, n_control: int, mean_treatment: float, var_treatment: float,
          n_treatment: int) -> Comparison | None:
    """Welch's t-test from each arm's mean, variance (ddof=1) and size (scipy's
    ttest_ind_from_stats), with the always-valid interval on the difference of means."""
    if n_control < 2 or n_treatment < 2:
        return None
    difference = mean_treatment - mean_control
    sequential = _sequential(difference, var_control / n_control + var_treatment / n_treatment,
                             n_control + n_treatment)
    if var_control == 0 and var_treatment == 0:
        return Comparison(mean_control, mean_treatment, difference, 0.0, 1.0 if difference == 0 else 0.0,
                          **sequential)
    from scipy import stats

    result = stats.ttest_ind_from_stats(mean_treatment, math.sqrt(var_treatment), n_treatment,
                                        mean_control, math.sqrt(var_control), n_control, equal_var=False)
    return Comparison(mean_control, mean_treatment, difference, float(result.statistic), float(result.pvalue),
                      **sequential)


def quantile_interval(values: Sequence[float], counts: Sequence[float], q: float,
                      z: float = 1.959963984540054) -> tuple[float, float, float] | None:
    """(estimate, low, high) of the q-quantile from a merged histogram (ascending sketch values and
    their counts). The interval is the distribution-free one on order statistics: the ranks
    nq ± z·sqrt(nq(1-q)) (normal approximation to the binomial), read from the same histogram, so
    it also carries the sketch's 1% relative error. z defaults to Φ⁻¹(0.975)."""
    import numpy as np

    running = np.cumsum(np.asarray(counts, dtype=np.float64))
    if not len(running) or running[-1] <= 0:
        return None
    n = float(running[-1])
    spread = z * math.sqrt(n * q * (1 - q))

    def at(rank: float) -> float:
        rank = min(max(rank, 0.0), n - 1)
        return float(values[min(int(np.searchsorted(running, rank, side="right")), len(values) - 1)])

    return at(q * (n - 1)), at(q * (n - 1) - spread), at(q * (n - 1) + spread)


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Adjusted p-values (scipy.stats.false_discovery_control, method "bh")."""
    if not pvalues:
        return []
    from scipy import stats

    return [float(p) for p in stats.false_discovery_control(list(pvalues), method="bh")]


def verdict(comparison: Comparison | None, adjusted_p: float | None, *, lower_is_better: bool, n_control: int,
            n_treatment: int, min_sample: int = MIN_SAMPLE, srm_mismatch: bool = False) -> str:
    """"better", "worse" or "inconclusive" (for the treatment against the control). `adjusted_p`
    is the Benjamini–Hochberg adjustment of the comparisons' always-valid p-values (judge())."""
    if (comparison is None or adjusted_p is None or srm_mismatch or min(n_control, n_treatment) < min_sample
            or adjusted_p >= ALPHA or comparison.difference == 0):
        return "inconclusive"
    improved = comparison.difference < 0 if lower_is_better else comparison.difference > 0
    return "better" if improved else "worse"


def judge(comparisons: Sequence[tuple[Comparison | None, bool, int, int]], *, srm_mismatch: bool = False,
          min_sample: int = MIN_SAMPLE) -> list[tuple[float | None, str]]:
    """(adjusted always-valid p, verdict) for each (comparison, lower_is_better, n_control,
    n_treatment) of one experiment: Benjamini–Hochberg across them all, then verdict(). Safe to
    call at every look: the p-values are always valid."""
    present = [c.p_sequential for c, *_ in comparisons if c is not None]
    adjusted = iter(benjamini_hochberg(present))
    out: list[tuple[float | None, str]] = []
    for comparison, lower_is_better, n_control, n_treatment in comparisons:
        p_adjusted = next(adjusted) if comparison is not None else None
        out.append((p_adjusted, verdict(comparison, p_adjusted, lower_is_better=lower_is_better,
                                        n_control=n_control, n_treatment=n_treatment, min_sample=min_sample,
                                        srm_mismatch=srm_mismatch)))
    return out
