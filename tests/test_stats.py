"""Sufficient statistics: every path of the blockwise pass against exact references."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skvi._core import component_stats as _component_stats
from skvi._core import engine as _blocks
from skvi._core import moments as _moments
from skvi._core.moments import weighted_moments_about
from skvi._core.stats import SufficientStatistics, merge_moments, merge_moments_about


def weighted_moments(X, sample_weight=None, **options):
    """``(W, xbar, S)``: :func:`weighted_moments_about`'s mean as one array."""
    weight, reference, offset, sum_of_squares = weighted_moments_about(
        X, sample_weight, **options
    )
    return weight, reference + offset, sum_of_squares


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


def default_block_rows(n_features):
    """Rows per default block: the engine's plan, in whole shift rows."""
    rows, _ = _blocks.plan(10**9, n_features)
    return rows - rows % max(1, _moments._SHIFT_ROW_WIDTH // n_features)


def boundary_rows(block_rows):
    """``n_samples`` and the rows on each side of a block's edge.

    Two runs of 16 blocks and one row more, so that the last block holds a
    single row.
    """
    group = block_rows * 16
    n_samples = 2 * group + 1
    rows = [0, block_rows - 1, block_rows, group - 1, group, n_samples - 1]
    return n_samples, rows


SMALL_BLOCK = 64
SMALL_N_SAMPLES, SMALL_BOUNDARY_ROWS = boundary_rows(SMALL_BLOCK)


@pytest.fixture
def count_recentred(monkeypatch):
    """Count the blocks recomputed centred, by wrapping the function that does it."""
    calls = []
    centred = _moments._centred_block_moments

    def spy(block, *args):
        calls.append(block.shape[0])
        return centred(block, *args)

    monkeypatch.setattr(_moments, "_centred_block_moments", spy)
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
    # Only the first block is recomputed (probed once, before the pass):
    # every block, on every thread, is summed around its mean.
    assert 10**6 > 4 * default_block_rows(2)  # several blocks
    assert len(count_recentred) == 1


def test_well_scaled_data_are_never_recomputed(count_recentred):
    X = np.random.default_rng(2).normal(5.0, 1.0, size=(100_000, 4))
    assert_moments_close(weighted_moments(X), reference_moments(X))
    assert count_recentred == []


@pytest.mark.parametrize("dtype, offset", [(np.float64, 1e9), (np.float32, 1e4)])
@pytest.mark.parametrize("weighted", [False, True])
def test_shift_follows_data_that_drift(dtype, offset, weighted, count_recentred):
    # Well-scaled blocks, then an offset, then a jump to the opposite sign:
    # each block that cancels too many digits is caught by the test and
    # recomputed about its own mean (and only those: 16 of the 24 blocks).
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
    assert 2 <= len(count_recentred) <= 16


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
    # Each block keeps its centre as the reference of its mean, so that merging
    # blocks loses none of the digits of a spread of 1e150 at 1e160.
    np.testing.assert_allclose(sum_of_squares / scale / scale, expected, rtol=1e-12)


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
@pytest.mark.parametrize("where", SMALL_BOUNDARY_ROWS)
def test_non_finite_values_raise_sklearn_message(dtype, bad, message, where):
    X = np.random.default_rng(10).standard_normal((SMALL_N_SAMPLES, 3)).astype(dtype)
    X[where, 1] = bad
    with pytest.raises(ValueError, match=message):
        weighted_moments(
            X, block_rows=SMALL_BLOCK, estimator_name="VariationalNormalEstimator"
        )
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


# --------------------------------------------------------------------------
# Block boundaries, derived from the block-size constant


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_raise_at_every_block_boundary(weighted, bad):
    n_features = 4
    n_samples, rows = boundary_rows(default_block_rows(n_features))
    X = np.random.default_rng(20).standard_normal((n_samples, n_features))
    sample_weight = np.ones(n_samples) if weighted else None
    for row in rows:
        X[row, -1] = bad
        if weighted:
            sample_weight[row] = 0.0  # weightless rows must still be finite
        for scatter in ("diag", "full"):
            with pytest.raises(ValueError, match="Input X contains"):
                _component_stats.sufficient_statistics(
                    X, sample_weight, scatter=scatter
                )
        X[row, -1] = 0.0


def test_statistics_across_block_and_group_boundaries():
    # A jump far from zero exactly at a group's edge, and a lone last row.
    n_features = 4
    n_samples, rows = boundary_rows(default_block_rows(n_features))
    rng = np.random.default_rng(21)
    X = rng.standard_normal((n_samples, n_features))
    X[rows[4] :] += 1e6
    X[-1] = -3.0
    actual = weighted_moments(X)
    assert_moments_close(actual, reference_moments(X), rtol=1e-12)


# --------------------------------------------------------------------------
# SufficientStatistics and sufficient_statistics


def component_references(X, sample_weight, responsibilities):
    """Per-component ``(W, mean, S_full)`` by a float64 two-pass and np.cov."""
    n_samples = X.shape[0]
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    weights, means, scatters = [], [], []
    for column in responsibilities.T:
        share = w * column
        weight = math.fsum(share)
        mean = np.array([math.fsum(share * x) for x in X.T]) / weight
        # np.cov with aweights and ddof=0 is the scatter over the weight.
        scatter = np.cov(X.T, aweights=share, ddof=0) * weight
        weights.append(weight)
        means.append(mean)
        scatters.append(np.atleast_2d(scatter))
    return np.array(weights), np.array(means), np.array(scatters)


def random_responsibilities(rng, n_samples, n_components):
    r = rng.dirichlet(np.ones(n_components), size=n_samples)
    return r


@pytest.mark.parametrize("scatter", ["diag", "full"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_rows", [None, 1, 37])
def test_components_match_two_pass_and_np_cov(scatter, weighted, block_rows):
    rng = np.random.default_rng(22)
    X = rng.normal([1.0, -2.0, 5.0], [1.0, 3.0, 0.5], size=(600, 3))
    X[:, 2] += 0.3 * X[:, 0]  # correlated, so the full scatter has off-diagonals
    sample_weight = rng.uniform(0, 2, size=600) if weighted else None
    resp = random_responsibilities(rng, 600, 4)
    stats = _component_stats.sufficient_statistics(
        X, sample_weight, resp, scatter=scatter, block_rows=block_rows
    )
    weight, mean, full = component_references(X, sample_weight, resp)
    np.testing.assert_allclose(stats.weight, weight, rtol=1e-13)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-12)
    expected = full if scatter == "full" else np.diagonal(full, axis1=1, axis2=2)
    np.testing.assert_allclose(stats.scatter, expected, rtol=1e-11)
    if scatter == "full":
        np.testing.assert_array_equal(stats.scatter, stats.scatter.transpose(0, 2, 1))


def test_weight_vector_is_one_component():
    rng = np.random.default_rng(23)
    X = rng.normal(3.0, 2.0, size=(500, 2))
    sample_weight = rng.uniform(0, 2, size=500)
    stats = _component_stats.sufficient_statistics(X, sample_weight)
    assert stats.weight.shape == (1,) and stats.offset.shape == (1, 2)
    expected = reference_moments(X, sample_weight)
    assert_moments_close(
        (float(stats.weight[0]), stats.mean[0], stats.scatter[0]), expected
    )
    # The same K = 1 through the general path (a full scatter).
    full = _component_stats.sufficient_statistics(X, sample_weight, scatter="full")
    np.testing.assert_allclose(full.mean, stats.mean, rtol=1e-14)
    np.testing.assert_allclose(
        np.diagonal(full.scatter, axis1=1, axis2=2), stats.scatter, rtol=1e-12
    )
    # And through responsibilities of one column of ones.
    ones = _component_stats.sufficient_statistics(X, sample_weight, np.ones((500, 1)))
    np.testing.assert_allclose(ones.scatter, stats.scatter, rtol=1e-12)


def test_components_in_long_double():
    # Independent of float64 rounding: the sums in np.longdouble.
    rng = np.random.default_rng(24)
    X = rng.normal(10.0, 1.0, size=(2000, 2))
    resp = random_responsibilities(rng, 2000, 3)
    stats = _component_stats.sufficient_statistics(
        X, responsibilities=resp, scatter="full"
    )
    Xl = X.astype(np.longdouble)
    for k in range(3):
        r = resp[:, k].astype(np.longdouble)
        weight = r.sum()
        mean = (r[:, None] * Xl).sum(axis=0) / weight
        d = Xl - mean
        scatter = (r[:, None, None] * d[:, :, None] * d[:, None, :]).sum(axis=0)
        np.testing.assert_allclose(stats.mean[k], mean.astype(float), rtol=1e-14)
        np.testing.assert_allclose(stats.scatter[k], scatter.astype(float), rtol=1e-12)


@pytest.mark.parametrize("scatter", ["diag", "full"])
def test_integer_weights_are_repeated_rows_for_components(scatter):
    rng = np.random.default_rng(25)
    X = 1e6 + rng.standard_normal((300, 2))
    counts = rng.integers(0, 4, size=300)
    resp = random_responsibilities(rng, 300, 3)
    weighted = _component_stats.sufficient_statistics(
        X, counts.astype(float), resp, scatter=scatter, block_rows=41
    )
    repeated = _component_stats.sufficient_statistics(
        np.repeat(X, counts, axis=0),
        responsibilities=np.repeat(resp, counts, axis=0),
        scatter=scatter,
        block_rows=41,
    )
    np.testing.assert_allclose(weighted.weight, repeated.weight, rtol=1e-13)
    np.testing.assert_allclose(weighted.mean, repeated.mean, rtol=1e-15)
    np.testing.assert_allclose(weighted.scatter, repeated.scatter, rtol=1e-10)


@pytest.mark.parametrize("scatter", ["diag", "full"])
def test_components_far_from_zero_are_exact(scatter):
    # 1e9 + Normal(0, 1): X - 1e9 is exact, so the reference sees X's data.
    rng = np.random.default_rng(26)
    noise = rng.standard_normal((5000, 2))
    X = 1e9 + noise
    resp = random_responsibilities(rng, 5000, 3)
    stats = _component_stats.sufficient_statistics(
        X, responsibilities=resp, scatter=scatter, block_rows=300
    )
    weight, mean, full = component_references(X - 1e9, None, resp)
    np.testing.assert_allclose(stats.reference + stats.offset - 1e9, mean, atol=1e-6)
    np.testing.assert_allclose(stats.offset + (stats.reference - 1e9), mean, rtol=1e-12)
    expected = full if scatter == "full" else np.diagonal(full, axis1=1, axis2=2)
    np.testing.assert_allclose(stats.scatter, expected, rtol=1e-12)


def test_separated_components_are_recomputed_centred():
    # Each component far from the block's mean: raw sums would cancel ~12 digits.
    rng = np.random.default_rng(27)
    labels = rng.integers(0, 2, size=4000)
    X = np.where(labels[:, None] == 1, 1e6, -1e6) + rng.standard_normal((4000, 2))
    resp = np.stack([labels == 0, labels == 1], axis=1).astype(float)
    stats = _component_stats.sufficient_statistics(
        X, responsibilities=resp, block_rows=500
    )
    for k in range(2):
        expected = reference_moments(X[labels == k])
        np.testing.assert_allclose(stats.scatter[k], expected[2], rtol=1e-12)


@pytest.mark.parametrize("scatter", ["diag", "full"])
def test_zero_weight_components(scatter):
    rng = np.random.default_rng(28)
    X = rng.standard_normal((400, 3))
    resp = random_responsibilities(rng, 400, 3)
    resp[:, 1] = 0.0  # never responsible
    resp[:250, 2] = 0.0  # responsible in later blocks only
    with np.errstate(all="raise"):
        stats = _component_stats.sufficient_statistics(
            X, responsibilities=resp, scatter=scatter, block_rows=50
        )
    assert stats.weight[1] == 0.0
    np.testing.assert_array_equal(stats.offset[1], 0.0)
    np.testing.assert_array_equal(stats.scatter[1], 0.0)
    weight, mean, full = component_references(X, None, resp[:, [0, 2]])
    np.testing.assert_allclose(stats.mean[[0, 2]], mean, rtol=1e-12)
    expected = full if scatter == "full" else np.diagonal(full, axis1=1, axis2=2)
    np.testing.assert_allclose(stats.scatter[[0, 2]], expected, rtol=1e-11)


@pytest.mark.parametrize("scatter", ["diag", "full"])
@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 300), max_size=6),
    seed=st.integers(0, 2**32 - 1),
    far=st.booleans(),
)
def test_merge_of_any_split_is_the_whole(scatter, cuts, seed, far):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 2)) + (1e9 if far else 0.0)
    sample_weight = rng.uniform(0, 2, size=300)
    resp = random_responsibilities(rng, 300, 2)
    whole = _component_stats.sufficient_statistics(
        X, sample_weight, resp, scatter=scatter
    )
    edges = [0, *sorted(cuts), 300]
    parts = [
        _component_stats.sufficient_statistics(
            X[a:b], sample_weight[a:b], resp[a:b], scatter=scatter
        )
        for a, b in zip(edges[:-1], edges[1:], strict=True)
        if b > a
    ]
    merged = SufficientStatistics.merge_all(parts)
    pairwise = parts[0]
    for part in parts[1:]:
        pairwise = pairwise.merge(part)
    for result in (merged, pairwise):
        np.testing.assert_allclose(result.weight, whole.weight, rtol=1e-13)
        np.testing.assert_allclose(result.mean, whole.mean, rtol=1e-15, atol=1e-12)
        np.testing.assert_allclose(result.scatter, whole.scatter, rtol=1e-11)


def test_scaled_multiplies_weight_and_scatter_only():
    rng = np.random.default_rng(29)
    X = rng.normal(size=(100, 2))
    stats = _component_stats.sufficient_statistics(X, scatter="full")
    half = stats.scaled(0.25)
    np.testing.assert_array_equal(half.weight, stats.weight * 0.25)
    np.testing.assert_array_equal(half.scatter, stats.scatter * 0.25)
    np.testing.assert_array_equal(half.mean, stats.mean)
    # Scaling by an integer is adding copies of the same data.
    twice = stats.merge(stats)
    np.testing.assert_allclose(stats.scaled(2.0).scatter, twice.scatter, rtol=1e-14)


def test_bad_arguments_say_what_to_do():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match=r"scatter must be one of \['diag', 'full'\]"):
        _component_stats.sufficient_statistics(X, scatter="spherical")
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_components\)"):
        _component_stats.sufficient_statistics(X, responsibilities=np.ones((9, 2)))
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_components\)"):
        _component_stats.sufficient_statistics(X, responsibilities=np.ones(10))


# --------------------------------------------------------------------------
# Far beyond 1e154: squares overflow, merges must not lose digits


def scaled_reference(X, scale):
    """``(mean, S)`` of X computed on X / scale (an exact power of two)."""
    _, mean, sum_of_squares = reference_moments(X / scale)
    return mean * scale, sum_of_squares * scale * scale


def test_chunks_far_beyond_1e154_merge_exactly():
    # The case: partial_fit and dask merge chunk statistics like these.
    rng = np.random.default_rng(30)
    X = 1e160 + 1e145 * rng.standard_normal((20_000, 2))
    X[:, 1] = -X[:, 1]
    scale = 2.0**531
    expected_mean, expected = scaled_reference(X, scale)
    parts = [weighted_moments_about(chunk) for chunk in np.array_split(X, 13)]
    weight, reference, offset, sum_of_squares = merge_moments_about(
        *zip(*parts, strict=True)
    )
    assert weight == 20_000
    np.testing.assert_allclose(reference + offset, expected_mean, rtol=1e-15)
    np.testing.assert_allclose(sum_of_squares, expected, rtol=1e-10)
    # Chunks given the first one's reference, as partial_fit does.
    first = weighted_moments_about(X[:5000])
    later = weighted_moments_about(X[5000:], reference=first[1])
    merged = merge_moments_about(*zip(first, later, strict=True))
    np.testing.assert_allclose(merged[3], expected, rtol=1e-10)
    # And as SufficientStatistics, diagonal and full.
    for scatter in ("diag", "full"):
        chunks = [
            _component_stats.sufficient_statistics(chunk, scatter=scatter)
            for chunk in np.array_split(X, 13)
        ]
        stats = SufficientStatistics.merge_all(chunks)
        diagonal = stats.scatter[0] if scatter == "diag" else np.diag(stats.scatter[0])
        np.testing.assert_allclose(diagonal, expected, rtol=1e-10)


@pytest.mark.parametrize("block_rows", [1, 64, None])
def test_blocks_far_beyond_1e154_merge_exactly(block_rows):
    # Blocks whose squares overflow keep their centre as a reference.
    rng = np.random.default_rng(31)
    X = 1e160 + 1e145 * rng.standard_normal((300, 2))
    expected_mean, expected = scaled_reference(X, 2.0**531)
    _, mean, sum_of_squares = weighted_moments(X, block_rows=block_rows)
    np.testing.assert_allclose(sum_of_squares, expected, rtol=1e-12)
    stats = _component_stats.sufficient_statistics(
        X, scatter="full", block_rows=block_rows
    )
    np.testing.assert_allclose(np.diag(stats.scatter[0]), expected, rtol=1e-12)


def test_merge_scales_squares_that_would_overflow():
    # Means 2e155 apart: (2e155)**2 overflows, the weighted spread does not.
    weights = np.array([1e-10, 1e-10])
    means = np.array([[1e155], [-1e155]])
    with np.errstate(over="raise"):
        weight, mean, sum_of_squares = merge_moments(weights, means, np.zeros((2, 1)))
    exact = 2 * Fraction(1e-10) * Fraction(1e155) ** 2
    assert sum_of_squares[0] == pytest.approx(float(exact), rel=1e-15)
    # The same for a full scatter, and tiny spreads do not underflow to 0.
    parts = [
        SufficientStatistics(w, np.zeros(1), m[None], np.zeros((1, 1, 1)))
        for w, m in zip(weights[:, None], means, strict=True)
    ]
    full = SufficientStatistics.merge_all(parts)
    assert full.scatter[0, 0, 0] == pytest.approx(float(exact), rel=1e-15)
    # (1e-160)**2 is subnormal (3 digits); scaled first, 2e20 of them are exact.
    tiny = merge_moments([1e20, 1e20], [[1e-160], [-1e-160]], np.zeros((2, 1)))
    exact = 2 * Fraction(1e20) * Fraction(1e-160) ** 2
    assert tiny[2][0] == pytest.approx(float(exact), rel=1e-15)


def _about(X, resp, reference, scatter="diag"):
    """:func:`statistics_about` as the mixture's E-step calls it."""
    deviation = X - reference
    squares = deviation * deviation if scatter == "diag" else None
    # The E-step's responsibilities are component-major (K, n): pass a view.
    return _component_stats.statistics_about(
        X,
        deviation,
        squares,
        np.ascontiguousarray(resp.T).T,
        reference,
        scatter=scatter,
    )


def _as_scatter(full, scatter):
    """Full reference scatters in the form ``scatter`` gives."""
    return np.diagonal(full, axis1=1, axis2=2) if scatter == "diag" else full


@pytest.mark.parametrize("scatter", ["diag", "full"])
@pytest.mark.parametrize("reference", [0.0, 3.0, -1e3])
def test_statistics_from_deviations_match_fsum_references(reference, scatter):
    # The fused path of the mixtures' E-step: the same statistics as the
    # general one, from deviations about a reference given by the caller.
    rng = np.random.default_rng(31)
    X = rng.normal([1.0, -2.0, 5.0], [1.0, 3.0, 0.5], size=(700, 3))
    resp = random_responsibilities(rng, 700, 4) * rng.uniform(0, 2, size=(700, 1))
    stats = _about(X, resp, np.full(3, reference), scatter)
    weight, mean, full = component_references(X, None, resp)
    np.testing.assert_array_equal(stats.reference, np.full(3, reference))
    np.testing.assert_allclose(stats.weight, weight, rtol=1e-13)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-12)
    # Off-diagonal entries near zero are compared on the diagonal's scale.
    scale = np.sqrt(np.diagonal(full, axis1=1, axis2=2))
    bound = 1e-11 * (scale[:, :, None] * scale[:, None, :])
    np.testing.assert_array_less(
        np.abs(stats.scatter - _as_scatter(full, scatter)),
        _as_scatter(bound, scatter),
    )
    if scatter == "full":
        np.testing.assert_array_equal(stats.scatter, stats.scatter.transpose(0, 2, 1))


@pytest.mark.parametrize("scatter", ["diag", "full"])
def test_statistics_from_deviations_recompute_tight_far_components(
    monkeypatch, scatter
):
    # A component of spread 1e-4 at 1e3 from the reference: raw sums about
    # the reference would cancel ~14 digits; it is recomputed centred, the
    # well-placed component is not.
    rng = np.random.default_rng(32)
    labels = rng.integers(0, 2, size=3000)
    X = np.where(
        labels[:, None] == 1,
        1e3 + 1e-4 * rng.standard_normal((3000, 2)),
        rng.standard_normal((3000, 2)),
    )
    resp = np.stack([labels == 0, labels == 1], axis=1).astype(float)
    recentred = []
    centred = _component_stats._centred_component

    def spy(block, column, *args):
        recentred.append(np.array(column))
        return centred(block, column, *args)

    monkeypatch.setattr(_component_stats, "_centred_component", spy)
    stats = _about(X, resp, np.zeros(2), scatter)
    assert len(recentred) == 1
    np.testing.assert_array_equal(recentred[0], resp[:, 1])
    for k in range(2):
        expected = reference_moments(X[labels == k])
        spread = np.sqrt(expected[2] / expected[0])
        np.testing.assert_allclose(
            stats.mean[k], expected[1], rtol=0, atol=1e-8 * spread.min()
        )
        diagonal = stats.scatter[k] if scatter == "diag" else np.diag(stats.scatter[k])
        np.testing.assert_allclose(diagonal, expected[2], rtol=1e-12)


@pytest.mark.parametrize("scatter", ["diag", "full"])
def test_statistics_from_overflowing_deviations_fall_back_scaled(scatter):
    # Deviations whose squares pass float64's range, about a spread that
    # does not: the general path's exact scaling.
    rng = np.random.default_rng(33)
    X = 1e155 + 1e151 * rng.standard_normal((200, 2))
    resp = random_responsibilities(rng, 200, 2)
    with np.errstate(over="ignore"):
        stats = _about(X, resp, np.zeros(2), scatter)
    general = _component_stats.sufficient_statistics(
        X, responsibilities=resp, scatter=scatter, reference=np.zeros(2)
    )
    assert np.isfinite(stats.scatter).all()
    np.testing.assert_allclose(stats.mean, general.mean, rtol=1e-13)
    np.testing.assert_allclose(stats.scatter, general.scatter, rtol=1e-12)
    weight, mean, full = component_references(X / 1e151, None, resp)
    np.testing.assert_allclose(
        stats.scatter / 1e302, _as_scatter(full, scatter), rtol=1e-9
    )


@pytest.mark.parametrize("scatter", ["diag", "full"])
def test_nan_responsibilities_raise_one_clear_error(scatter):
    # NaN weights (a density that overflowed upstream, as for a spherical
    # mixture on data of spread 1e-155 with weights of 1e235) cannot be
    # scaled into range: one clear error, not a recursion without end.
    rng = np.random.default_rng(34)
    X = 1e-155 * rng.standard_normal((40, 2))
    resp = np.full((40, 1), np.nan)
    with pytest.raises(ValueError, match="not representable in float64"):
        _component_stats.sufficient_statistics(
            X, responsibilities=resp, scatter=scatter
        )


def test_tiny_spread_huge_weights_give_a_fit_or_one_clear_error():
    # The example hypothesis found (tests/test_hardening.py's any-scale
    # property on the one-component spherical mixture): RecursionError before.
    from skvi import VariationalGaussianMixture

    rng = np.random.default_rng(11)
    X = rng.standard_normal((40, 2)) * 10.0**-154.8
    weights = np.full(40, 10.0**236.9 / 40)
    estimator = VariationalGaussianMixture(
        n_components=1,
        covariance_type="spherical",
        weight_concentration_prior_type="dirichlet_distribution",
        reg_covar=0.0,
    )
    try:
        estimator.fit(X, sample_weight=weights)
    except ValueError as exc:
        assert "float64" in str(exc) and "\n" not in str(exc)
    else:
        assert np.isfinite(estimator.elbo_)
