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


def test_an_a_a_comparison_rarely_declares_a_winner() -> None:
    """200 seeds of two equal arms, three equal metrics each, BH-adjusted: at most 5% with a winner
    (one look; repeated peeking needs the sequential intervals that are not built yet)."""
    winners = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        results, pvalues = [], []
        for rate in (0.05, 0.1, 0.2):
            x1, x2 = rng.binomial(2_000, rate), rng.binomial(2_000, rate)
            result = stats.two_proportions(int(x1), 2_000, int(x2), 2_000)
            results.append(result)
            pvalues.append(result.p)
        adjusted = stats.benjamini_hochberg(pvalues)
        verdicts = [stats.verdict(r, p, lower_is_better=True, n_control=2_000, n_treatment=2_000)
                    for r, p in zip(results, adjusted, strict=True)]
        winners += any(v != "inconclusive" for v in verdicts)
    assert winners <= 10
