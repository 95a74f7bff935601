"""Experiment statistics against scipy on raw data, and the verdict rules."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from prompts import stats


def test_srm_is_chi_square_on_the_split() -> None:
    result = stats.srm([5_000, 5_000], [0.5, 0.5])
    assert result is not None and result.p == pytest.approx(1.0) and not result.mismatch
    skewed = stats.srm([5_300, 4_700], [1, 1])
    assert skewed is not None and skewed.mismatch
    assert skewed.p == pytest.approx(sps.chisquare([5_300, 4_700]).pvalue)
    assert stats.srm([0, 0], [1, 1]) is None


def test_two_proportions_matches_the_z_test_on_raw_outcomes() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(4_000) < 0.10, rng.random(3_000) < 0.13
    result = stats.two_proportions(int(a.sum()), a.size, int(b.sum()), b.size)
    pooled = np.concatenate([a, b]).mean()
    z = (b.mean() - a.mean()) / np.sqrt(pooled * (1 - pooled) * (1 / a.size + 1 / b.size))
    assert result is not None
    assert result.z == pytest.approx(z) and result.p == pytest.approx(2 * sps.norm.sf(abs(z)))
    assert result.difference == pytest.approx(b.mean() - a.mean())
    assert stats.two_proportions(0, 0, 1, 10) is None


def test_welch_from_summaries_matches_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.70, 0.2, 500), rng.normal(0.74, 0.3, 400)
    result = stats.welch(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size)
    raw = sps.ttest_ind(b, a, equal_var=False)
    assert result is not None and result.z == pytest.approx(raw.statistic) and result.p == pytest.approx(raw.pvalue)


def test_benjamini_hochberg_adjusts_like_scipy() -> None:
    pvalues = [0.001, 0.02, 0.03, 0.2, 0.04]
    assert stats.benjamini_hochberg(pvalues) == pytest.approx(list(sps.false_discovery_control(pvalues)))
    assert stats.benjamini_hochberg([]) == []


def test_verdicts_need_significance_the_sample_and_a_clean_split() -> None:
    worse = stats.two_proportions(100, 2_000, 200, 2_000)
    assert stats.verdict(worse, 0.001, lower_is_better=True, n_control=2_000, n_treatment=2_000) == "worse"
    better = stats.two_proportions(200, 2_000, 100, 2_000)
    assert stats.verdict(better, 0.001, lower_is_better=True, n_control=2_000, n_treatment=2_000) == "better"
    assert stats.verdict(better, 0.2, lower_is_better=True, n_control=2_000, n_treatment=2_000) == "inconclusive"
    assert stats.verdict(better, 0.001, lower_is_better=True, n_control=50, n_treatment=2_000) == "inconclusive"
    assert stats.verdict(better, 0.001, lower_is_better=True, n_control=2_000, n_treatment=2_000,
                         srm_mismatch=True) == "inconclusive"


def test_welch_from_rollup_moments_matches_scipy_on_raw_data() -> None:
    """What the rollups keep (count, sum, sum of squares) gives scipy's Welch t on the raw values."""
    rng = np.random.default_rng(5)
    a, b = rng.gamma(2.0, 0.0007, 3_000), rng.gamma(2.2, 0.0007, 2_000)  # cost per call, USD
    ma, va = stats.moments(a.size, float(a.sum()), float((a * a).sum()))
    mb, vb = stats.moments(b.size, float(b.sum()), float((b * b).sum()))
    assert va == pytest.approx(a.var(ddof=1), rel=1e-9) and vb == pytest.approx(b.var(ddof=1), rel=1e-9)
    result = stats.welch(ma, va, a.size, mb, vb, b.size)
    raw = sps.ttest_ind(b, a, equal_var=False)
    assert result is not None and result.z == pytest.approx(raw.statistic) and result.p == pytest.approx(raw.pvalue)
    assert stats.moments(1, 0.5, 0.25) is None
    assert stats.moments(3, 3.0, 3.0 - 1e-15) == (1.0, 0.0)  # cancellation never gives a negative variance


def test_the_always_valid_interval_is_growthbooks_and_wider_than_the_fixed_one() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.70, 0.2, 4_000), rng.normal(0.72, 0.2, 4_000)
    result = stats.welch(a.mean(), a.var(ddof=1), a.size, b.mean(), b.var(ddof=1), b.size)
    assert result is not None
    n, variance = a.size + b.size, a.var(ddof=1) / a.size + b.var(ddof=1) / b.size
    # GrowthBook's formula, written out from its documentation with N* = 5000, alpha = 0.05
    rho = np.sqrt((-2 * np.log(0.05) + np.log(-2 * np.log(0.05) + 1)) / 5_000)
    half = np.sqrt(variance * n) * np.sqrt(2 * (n * rho**2 + 1) * np.log(np.sqrt(n * rho**2 + 1) / 0.05)
                                           / (n * rho) ** 2)
    assert result.high - result.difference == pytest.approx(half)
    assert result.difference - result.low == pytest.approx(half)
    assert half > sps.norm.ppf(0.975) * np.sqrt(variance)  # the price of looking at any time
    # The always-valid p-value is below 0.05 exactly when the interval excludes 0.
    for d in (0.5 * half, 0.99 * half, 1.01 * half, 2 * half):
        assert (stats.sequential_p(d, variance, n) < 0.05) == (d > half)


def test_quantile_intervals_cover_the_raw_quantile() -> None:
    """p50 and p95 from a merged sketch, with the order-statistic interval, against numpy on the raw
    latencies (the sketch's 1% relative error aside)."""
    from rollups.sketch import keys_of, value_of

    rng = np.random.default_rng(2)
    raw = rng.lognormal(6.0, 0.6, 20_000)
    keys, counts = np.unique(keys_of(raw), return_counts=True)
    values = [value_of(int(k)) for k in keys]
    for q in (0.5, 0.95):
        estimate, low, high = stats.quantile_interval(values, counts, q)
        truth = float(np.quantile(raw, q))
        assert estimate == pytest.approx(truth, rel=0.02)
        assert low <= estimate <= high and low < high
        ranks = np.sort(raw)[[int(q * 20_000 - 2 * np.sqrt(20_000 * q * (1 - q))),
                              int(q * 20_000 + 2 * np.sqrt(20_000 * q * (1 - q)))]]
        assert low == pytest.approx(ranks[0], rel=0.03) and high == pytest.approx(ranks[1], rel=0.03)
    assert stats.quantile_interval([], [], 0.5) is None


def _peeking_winners(seeds: int, *, sequential: bool, enough: int | None = None) -> int:
    """Experiments (of `seeds`) that ever declare a winner when both arms are equal, looking after
    every 400 units per arm up to 6,000: an error rate, a score mean and cost per call, each
    compared like experiment_results does (BH across them). Stops counting at `enough`."""
    winners = 0
    looks = np.arange(400, 6_001, 400)
    for seed in range(seeds):
        if enough is not None and winners >= enough:
            break
        rng = np.random.default_rng(seed)
        errors = rng.random((2, 6_000)) < 0.08
        scores = rng.beta(4, 2, (2, 6_000))
        costs = rng.gamma(2.0, 0.0007, (2, 6_000))
        cum = {name: (np.cumsum(v, axis=1), np.cumsum(v.astype(float) ** 2, axis=1))
               for name, v in (("errors", errors), ("scores", scores), ("costs", costs))}
        for n in looks:
            i = n - 1
            comparisons = [stats.two_proportions(int(cum["errors"][0][0, i]), n, int(cum["errors"][0][1, i]), n)]
            for name in ("scores", "costs"):
                (m1, v1), (m2, v2) = (stats.moments(n, float(cum[name][0][arm, i]), float(cum[name][1][arm, i]))
                                      for arm in (0, 1))
                comparisons.append(stats.welch(m1, v1, n, m2, v2, n))
            if sequential:
                verdicts = [v for _, v in stats.judge([(c, True, n, n) for c in comparisons])]
            else:  # the same comparisons on fixed-horizon p-values, as if the first look were the last
                adjusted = stats.benjamini_hochberg([c.p for c in comparisons])
                verdicts = [stats.verdict(c, p, lower_is_better=True, n_control=n, n_treatment=n)
                            for c, p in zip(comparisons, adjusted, strict=True)]
            if any(v != "inconclusive" for v in verdicts):
                winners += 1
                break
    return winners


def test_an_a_a_experiment_with_repeated_peeking_rarely_declares_a_winner() -> None:
    """200 seeds of two equal arms, 15 looks each: the always-valid verdicts declare a winner in at
    most 5% of runs. Fixed-horizon p-values, peeked at the same way, do not hold that line: which
    is why verdicts use the sequential ones."""
    assert _peeking_winners(200, sequential=True) <= 10
    assert _peeking_winners(200, sequential=False, enough=11) > 10
