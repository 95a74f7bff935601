"""drift.stats against exact values on raw samples (bounds), on identical distributions (null rate,
100 seeds each), and on known shifts. Pure numpy: no database."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from drift import stats
from rollups.sketch import RELATIVE_ACCURACY, keys_of


def sketch(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold raw values into (keys, counts) with the rollups' own mapping, as the rollups store them."""
    keys, counts = np.unique(keys_of(np.asarray(values, dtype=np.float64)), return_counts=True)
    return keys, counts


SAMPLERS = {
    "lognormal latency": lambda rng, n, shift: rng.lognormal(np.log(800 * shift), 0.6, n),
    "normal-ish latency": lambda rng, n, shift: np.abs(rng.normal(500 * shift, 80, n)),
    "scores with zeros": lambda rng, n, shift: np.where(rng.random(n) < 0.2, 0.0, rng.beta(5 * shift, 2, n)),
    "heavy tail": lambda rng, n, shift: rng.pareto(2.5, n) * 100 * shift + 1,
}


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("shift", [1.0, 1.2])
def test_sketch_w1_is_within_its_bound_of_the_exact_w1(name: str, shift: float) -> None:
    rng = np.random.default_rng(7)
    x, y = SAMPLERS[name](rng, 3000, 1.0), SAMPLERS[name](rng, 2000, shift)
    exact = sps.wasserstein_distance(x, y)
    result = stats.numeric_compare(sketch(x), sketch(y))
    w1, error = result.details["w1"], result.details["w1_error"]
    assert abs(w1 - exact) <= error
    # The bound is the stated α·(E|X|+E|Y|) (from the sketch side, so divided by 1-α): not loose by orders.
    assert error == pytest.approx(RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY)
                                  * (np.abs(stats.key_values(sketch(x)[0])) @ sketch(x)[1] / len(x)
                                     + np.abs(stats.key_values(sketch(y)[0])) @ sketch(y)[1] / len(y)))
    exact_normalised = exact / np.std(x)
    assert result.low <= exact_normalised <= result.high


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("shift", [1.0, 1.05, 1.3])
def test_ks_interval_holds_the_exact_ks_statistic(name: str, shift: float) -> None:
    rng = np.random.default_rng(11)
    x, y = SAMPLERS[name](rng, 2500, 1.0), SAMPLERS[name](rng, 1500, shift)
    exact = sps.ks_2samp(x, y).statistic
    low, high = stats.ks_interval(sketch(x), sketch(y))
    assert low <= exact + 1e-12 and exact <= high + 1e-12
    # The width is at most the heaviest bucket's share on either side (2%-wide buckets keep it small
    # unless the distribution is concentrated in a few of them).
    heaviest = max(sketch(x)[1].max() / len(x), sketch(y)[1].max() / len(y))
    assert high - low <= heaviest + 1e-12


def test_key_edges_hold_every_value_of_their_key() -> None:
    values = np.concatenate([np.geomspace(0.01, 1e6, 5000), [0.0, 0.5, 1.0]])
    lower, upper = stats.key_edges(keys_of(values))
    positive = values > 0
    assert np.all(lower[positive] < values[positive] * (1 + 1e-12))
    assert np.all(values[positive] <= upper[positive] * (1 + 1e-12))
    assert lower[~positive].tolist() == upper[~positive].tolist() == [0.0]


def _flag_rate(compare: object, seeds: int = 100) -> float:
    return sum(compare(np.random.default_rng(seed)).verdict == stats.DRIFT for seed in range(seeds)) / seeds


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("n", [150, 1000])
def test_numeric_null_flags_at_most_five_percent(name: str, n: int) -> None:
    sample = SAMPLERS[name]
    rate = _flag_rate(lambda rng: stats.numeric_compare(sketch(sample(rng, n, 1.0)), sketch(sample(rng, n, 1.0))))
    assert rate <= 0.05


@pytest.mark.parametrize(("p", "n"), [(0.01, 2000), (0.05, 300), (0.3, 5000)])
def test_rate_null_flags_at_most_five_percent(p: float, n: int) -> None:
    rate = _flag_rate(lambda rng: stats.rate_compare(int(rng.binomial(n, p)), n, int(rng.binomial(n, p)), n))
    assert rate <= 0.05


@pytest.mark.parametrize(("shares", "n"), [([0.6, 0.3, 0.1], 150), ([0.5, 0.2, 0.1, 0.1, 0.05, 0.05], 2000)])
def test_mix_null_flags_at_most_five_percent(shares: list[float], n: int) -> None:
    def compare(rng: np.random.Generator) -> stats.Result:
        b, c = rng.multinomial(n, shares), rng.multinomial(n, shares)
        return stats.mix_compare({str(i): int(v) for i, v in enumerate(b)}, {str(i): int(v) for i, v in enumerate(c)})
    assert _flag_rate(compare) <= 0.05


def test_latency_up_twenty_percent_is_drift() -> None:
    rng = np.random.default_rng(1)
    sample = SAMPLERS["lognormal latency"]
    result = stats.numeric_compare(sketch(sample(rng, 2000, 1.0)), sketch(sample(rng, 2000, 1.2)))
    assert result.verdict == stats.DRIFT
    assert result.current_value / result.baseline_value == pytest.approx(1.2, rel=0.05)
    assert result.low <= result.statistic <= result.high
    assert result.details["ks_low"] > 0.1


def test_score_mean_down_five_hundredths_is_drift() -> None:
    rng = np.random.default_rng(2)
    base = np.clip(rng.normal(0.8, 0.1, 3000), 0, 1)
    current = np.clip(rng.normal(0.75, 0.1, 3000), 0, 1)
    result = stats.numeric_compare(sketch(base), sketch(current))
    assert result.verdict == stats.DRIFT
    assert result.statistic == pytest.approx(0.5, abs=0.1)


def test_small_samples_are_not_enough_data_never_no_drift() -> None:
    keys, counts = sketch(np.full(50, 100.0))
    result = stats.numeric_compare((keys, counts), sketch(np.full(500, 900.0)))
    assert result.verdict == stats.NOT_ENOUGH
    assert result.statistic is None and result.details["min_samples"] == stats.MIN_SAMPLES["numeric"]
    assert stats.rate_compare(1, 10, 9, 10).verdict == stats.NOT_ENOUGH
    assert stats.mix_compare({"a": 10}, {"b": 10}).verdict == stats.NOT_ENOUGH
    assert stats.numeric_compare((np.zeros(0, np.int64), np.zeros(0, np.int64)), (keys, counts)).verdict \
        == stats.NOT_ENOUGH


def test_constant_baseline_is_judged_without_dividing_by_zero() -> None:
    same = stats.numeric_compare(sketch(np.full(500, 0.0)), sketch(np.full(500, 0.0)))
    assert same.verdict == stats.NO_DRIFT and same.statistic == 0.0
    moved = stats.numeric_compare(sketch(np.full(500, 0.0)), sketch(np.full(500, 1.0)))
    assert moved.verdict == stats.DRIFT


def test_rate_one_to_four_percent_is_drift_and_a_trivial_shift_at_huge_counts_is_not() -> None:
    result = stats.rate_compare(20, 2000, 80, 2000)
    assert result.verdict == stats.DRIFT and result.severity in (stats.MODERATE, stats.MAJOR)
    assert result.details["absolute_change"] == pytest.approx(0.03)
    assert result.details["relative_change"] == pytest.approx(3.0)
    assert result.details["p_value"] < 1e-6
    # 5.0% → 5.2% over ten million calls a side: "significant", and not worth anyone's morning.
    trivial = stats.rate_compare(500_000, 10_000_000, 520_000, 10_000_000)
    assert trivial.details["p_value"] < 1e-9
    assert trivial.verdict == stats.NO_DRIFT


def test_model_swapped_in_the_mix_is_major_drift_with_the_movers_named() -> None:
    result = stats.mix_compare({"gpt-4o": 900, "claude": 100}, {"gpt-4o": 100, "claude": 100, "gemini": 800})
    assert result.verdict == stats.DRIFT
    assert result.details["psi_band"] == stats.MAJOR and result.severity == stats.MAJOR
    moved = [m["category"] for m in result.details["moved"]]
    assert set(moved[:2]) == {"gpt-4o", "gemini"} and "claude" not in moved
    assert abs(result.current_value - result.baseline_value) == pytest.approx(0.8)
    assert 0 < result.statistic <= 1


def test_psi_bands() -> None:
    assert [stats.psi_band(v) for v in (0.05, 0.1, 0.25, 0.3)] == ["none", "moderate", "moderate", "major"]


def test_score_ranks_by_distance_past_the_threshold() -> None:
    big = stats.rate_compare(20, 2000, 200, 2000)
    small = stats.rate_compare(20, 2000, 60, 2000)
    assert big.score > small.score > 1
    assert stats.rate_compare(20, 2000, 21, 2000).score == 0
