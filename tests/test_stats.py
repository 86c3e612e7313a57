"""Sufficient statistics: every path of the blockwise pass against exact references."""

import math
from fractions import Fraction

import numpy as np
import pytest

from skvi import _stats
from skvi._stats import (
    merge_moments,
    merge_moments_about,
    weighted_moments,
    weighted_moments_about,
)


def reference_moments(X, sample_weight=None):
    """``(W, xbar, S)`` by a correctly rounded two-pass (``math.fsum``) in float64."""
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    w = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight)
    weight = math.fsum(w)
    mean = np.empty(n_features)
    sum_of_squares = np.empty(n_features)
    for j in range(n_features):
        x = X[:, j]
        mean[j] = math.fsum(w * x) / weight
        deviation = x - mean[j]
        # Compensated: the correction removes the rounding error of mean[j].
        correction = math.fsum(w * deviation)
        sum_of_squares[j] = (
            math.fsum(w * deviation * deviation) - correction * correction / weight
        )
    return weight, mean, sum_of_squares


def assert_moments_close(actual, expected, rtol=1e-12, mean_atol=0.0):
    weight, mean, sum_of_squares = actual
    assert isinstance(weight, float)
    np.testing.assert_allclose(weight, expected[0], rtol=1e-14)
    np.testing.assert_allclose(mean, expected[1], rtol=rtol, atol=mean_atol)
    np.testing.assert_allclose(sum_of_squares, expected[2], rtol=rtol)


@pytest.fixture
def count_recentred(monkeypatch):
    """Count the blocks recomputed centred, by wrapping the function that does it."""
    calls = []
    centred = _stats._centred_block_moments

    def spy(block, *args):
        calls.append(block.shape[0])
        return centred(block, *args)

    monkeypatch.setattr(_stats, "_centred_block_moments", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_rows", [None, 1, 7, 64, 1000, 5000])
@pytest.mark.parametrize("weighted", [False, True])
def test_random_data_matches_fsum(dtype, block_rows, weighted):
    # 1000 rows: blocks of 7 and 64 leave a partial last block.
    rng = np.random.default_rng(0)
    X = (rng.normal(3.0, 2.0, size=(1000, 3))).astype(dtype)
    sample_weight = rng.uniform(0, 2, size=1000) if weighted else None
    actual = weighted_moments(X, sample_weight, block_rows=block_rows)
    assert_moments_close(actual, reference_moments(X, sample_weight))


def test_float32_accumulates_in_float64():
    # float32 sums of 10**6 values near 1 would be wrong in the 4th digit.
    X = np.full((10**6, 1), 1.1, dtype=np.float32)
    X[::2] = 0.9
    weight, mean, sum_of_squares = weighted_moments(X)
    expected = reference_moments(X)
    np.testing.assert_allclose(mean, expected[1], rtol=1e-14)
    np.testing.assert_allclose(sum_of_squares, expected[2], rtol=1e-10)


def test_badly_scaled_data_keep_the_variance(count_recentred):
    # The brief's case: 1e9 + Normal(0, 1) over 10**6 rows.
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((10**6, 2))
    X = 1e9 + noise
    # X - 1e9 is exact (Sterbenz), so the reference sees the data X holds.
    centred = X - 1e9
    weight, mean, sum_of_squares = weighted_moments(X)
    _, expected_mean, expected_sum_of_squares = reference_moments(centred)
    np.testing.assert_allclose(mean - 1e9, expected_mean, atol=1e-6)
    # Block means are merged as offsets from the first block's: no digit lost.
    np.testing.assert_allclose(sum_of_squares, expected_sum_of_squares, rtol=1e-12)
    # Only the first block of each group (one thread's unit of work) is
    # recomputed: later ones are summed around its mean.
    block_rows = _stats._BLOCK_ELEMENTS // 2
    n_groups = -(-(10**6) // (block_rows * _stats._BLOCKS_PER_GROUP))
    assert n_groups >= 2
    assert len(count_recentred) == n_groups


def test_well_scaled_data_are_never_recomputed(count_recentred):
    X = np.random.default_rng(2).normal(5.0, 1.0, size=(100_000, 4))
    assert_moments_close(weighted_moments(X), reference_moments(X))
    assert count_recentred == []


@pytest.mark.parametrize("dtype, offset", [(np.float64, 1e9), (np.float32, 1e4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_shift_follows_data_that_drift(dtype, offset, weighted, count_recentred):
    # Well-scaled blocks, then an offset, then a jump to the opposite sign:
    # each change is caught by the cancellation test and moves the shift.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 3))
    X[1000:2000] += offset
    X[2000:] -= offset
    X = X.astype(dtype)
    sample_weight = rng.uniform(0, 2, size=3000) if weighted else None
    actual = weighted_moments(X, sample_weight, block_rows=128)
    # The means of blocks near +-offset are rounded to the offset's last digit.
    expected = reference_moments(X, sample_weight)
    assert_moments_close(actual, expected, rtol=1e-9, mean_atol=offset * 1e-15)
    assert 2 <= len(count_recentred) <= 6


def test_many_features_badly_scaled():
    # Wider than the shift's row of _SHIFT_ROW_WIDTH values: one row per group.
    rng = np.random.default_rng(4)
    X = 1e8 + rng.standard_normal((300, 700))
    actual = weighted_moments(X, block_rows=100)
    assert_moments_close(actual, reference_moments(X), rtol=1e-8)


@pytest.mark.parametrize("order", ["C", "F"])
def test_non_contiguous_blocks(order):
    # Fortran-ordered blocks and strided views take the plain broadcast path.
    rng = np.random.default_rng(5)
    X = np.asarray(1e7 + rng.standard_normal((2000, 6)), order=order)
    for data in (X, X[::2, ::2]):
        actual = weighted_moments(data, block_rows=128)
        assert_moments_close(actual, reference_moments(data), rtol=1e-9)


def test_zero_weights_drop_rows_and_whole_blocks():
    rng = np.random.default_rng(6)
    X = rng.normal(2.0, 3.0, size=(500, 2))
    sample_weight = rng.uniform(0.5, 2.0, size=500)
    sample_weight[:200] = 0.0  # whole blocks of zero weight
    sample_weight[300::3] = 0.0
    X[:100] = 1e300  # finite, ignored because weightless
    actual = weighted_moments(X, sample_weight, block_rows=50)
    kept = sample_weight > 0
    assert_moments_close(actual, reference_moments(X[kept], sample_weight[kept]))


def test_integer_weights_repeat_rows():
    rng = np.random.default_rng(7)
    X = 1e6 + rng.standard_normal((200, 2))
    counts = rng.integers(0, 4, size=200)
    weighted = weighted_moments(X, counts.astype(float), block_rows=32)
    repeated = weighted_moments(np.repeat(X, counts, axis=0), block_rows=32)
    assert_moments_close(weighted, repeated, rtol=1e-9)


def test_constant_columns_have_no_spread():
    X = np.tile([0.0, 3.7, -1e9], (1000, 1))
    weight, mean, sum_of_squares = weighted_moments(X, block_rows=64)
    np.testing.assert_allclose(mean, [0.0, 3.7, -1e9], rtol=1e-15)
    np.testing.assert_allclose(sum_of_squares, 0.0, atol=1e-12)


def test_single_row():
    X = np.array([[1.0, -2.0, 1e200]])
    assert_moments_close(weighted_moments(X), (1.0, X[0], np.zeros(3)))


@pytest.mark.parametrize("block_rows", [1, 64, None])
def test_overflowing_squares_are_recomputed_scaled(block_rows):
    # Squares of 1e160 overflow; the spread (1e150) and S (1e303) do not.
    rng = np.random.default_rng(8)
    X = 1e160 + 1e150 * rng.standard_normal((300, 2))
    X[:, 1] = -X[:, 1]
    weight, mean, sum_of_squares = weighted_moments(X, block_rows=block_rows)
    # The reference works on X scaled exactly by a power of two.
    scale = 2.0**531
    _, expected_mean, expected = reference_moments(X / scale)
    np.testing.assert_allclose(mean, expected_mean * scale, rtol=1e-15)
    # Block means near 1e160 keep 5-6 digits of a spread of 1e150, which bounds
    # the accuracy of merging blocks; a single block is exact.
    rtol = 1e-12 if block_rows is None else 1e-6
    np.testing.assert_allclose(sum_of_squares / scale / scale, expected, rtol=rtol)


def test_largest_floats_keep_a_finite_mean():
    X = np.array([[1.7e308, -1.7e308], [1.5e308, -1.0e308], [1.6e308, -1.5e308]])
    with np.errstate(all="raise"):
        weight, mean, sum_of_squares = weighted_moments(X)
    _, expected_mean, expected = reference_moments(X / 2.0**1023)
    np.testing.assert_allclose(mean, expected_mean * 2.0**1023, rtol=1e-15)
    assert np.all(np.isposinf(sum_of_squares) | (sum_of_squares > 1e300))


def test_overflowing_spread_gives_inf_not_nan():
    X = 1e200 * np.random.default_rng(9).standard_normal((100, 2))
    weight, mean, sum_of_squares = weighted_moments(X)
    _, expected_mean, _ = reference_moments(X / 2.0**665)
    np.testing.assert_allclose(mean, expected_mean * 2.0**665, rtol=1e-13)
    assert np.all(np.isposinf(sum_of_squares))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "bad, message", [(np.nan, "Input X contains NaN"), (np.inf, "infinity")]
)
@pytest.mark.parametrize("where", [0, 777, 999])
def test_non_finite_values_raise_sklearn_message(dtype, bad, message, where):
    X = np.random.default_rng(10).standard_normal((1000, 3)).astype(dtype)
    X[where, 1] = bad
    with pytest.raises(ValueError, match=message):
        weighted_moments(X, block_rows=64, estimator_name="VariationalNormalEstimator")
    # scikit-learn names the estimator in its advice about NaN.
    match = "VariationalNormalEstimator" if np.isnan(bad) else message
    with pytest.raises(ValueError, match=match):
        weighted_moments(X, estimator_name="VariationalNormalEstimator")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise_even_at_zero_weight(bad):
    X = np.random.default_rng(11).standard_normal((300, 2))
    X[5, 0] = bad
    sample_weight = np.ones(300)
    sample_weight[5] = 0.0
    with pytest.raises(ValueError, match="Input X contains"):
        weighted_moments(X, sample_weight, block_rows=64)
    sample_weight[:64] = 0.0  # the whole block weightless
    with pytest.raises(ValueError, match="Input X contains"):
        weighted_moments(X, sample_weight, block_rows=64)


def test_non_finite_value_in_badly_scaled_shifted_block_raises():
    X = 1e9 + np.random.default_rng(12).standard_normal((1000, 2))
    X[900, 1] = np.nan  # after the shift is set by the first block
    with pytest.raises(ValueError, match="Input X contains NaN"):
        weighted_moments(X, block_rows=64)


def test_merge_matches_the_whole_and_ignores_weightless_parts():
    rng = np.random.default_rng(13)
    X = 1e8 + rng.standard_normal((900, 3))
    parts = [weighted_moments(X[a:b]) for a, b in [(0, 100), (100, 550), (550, 900)]]
    parts.append((0.0, np.full(3, 1e300), np.zeros(3)))
    merged = merge_moments(*(np.array(column) for column in zip(*parts, strict=True)))
    assert_moments_close(merged, reference_moments(X), rtol=1e-9)


def test_reference_is_exact_on_a_small_case():
    # The fsum reference against exact rational arithmetic.
    X = np.array([[1e9 + 1.0], [1e9 + 2.0], [1e9 + 4.0]])
    values = [Fraction(float(x)) for x in X[:, 0]]
    mean = sum(values) / 3
    exact = sum((v - mean) ** 2 for v in values)
    _, _, sum_of_squares = reference_moments(X)
    assert sum_of_squares[0] == float(exact)
    assert weighted_moments(X)[2][0] == pytest.approx(float(exact), rel=1e-12)


def test_merge_about_keeps_the_spread_far_from_zero():
    """Chunk means far from 0 rounded to float64 would move S; offsets do not."""
    rng = np.random.default_rng(11)
    X = 1e9 + rng.normal(0.0, 1e-3, size=(1000, 2))
    exact_mean = [sum(map(Fraction, column)) / len(column) for column in X.T]
    exact_s = np.array(
        [
            float(sum((Fraction(v) - m) ** 2 for v in column))
            for column, m in zip(X.T, exact_mean, strict=True)
        ]
    )
    parts = [weighted_moments_about(chunk) for chunk in np.array_split(X, 7)]
    weight, reference, offset, sum_of_squares = merge_moments_about(
        *zip(*parts, strict=True)
    )
    assert weight == 1000
    np.testing.assert_allclose(sum_of_squares, exact_s, rtol=1e-12)
    np.testing.assert_allclose(reference + offset, [float(m) for m in exact_mean])
    # Merging the rounded means instead loses digits of S (the old behaviour).
    _, _, rounded = merge_moments(
        [p[0] for p in parts], [p[1] + p[2] for p in parts], [p[3] for p in parts]
    )
    assert np.max(np.abs(rounded / exact_s - 1)) > 1e-10
