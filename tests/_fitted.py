"""Compare two fitted VariationalNormalEstimators attribute by attribute."""

import numpy as np

# Every fitted attribute that the data and priors determine.
FITTED_ATTRIBUTES = [
    "posterior_mean_",
    "posterior_std_",
    "posterior_shape_",
    "posterior_rate_",
    "noise_std_",
    "sample_mean_",
    "prior_mean_",
    "prior_std_",
    "prior_shape_",
    "prior_rate_",
    "elbo_",
    "elbo_history_",
    "n_iter_",
    "converged_",
    "n_features_in_",
]


def relative_difference(actual, expected, scale):
    """``max |actual - expected| / max(|expected|, scale)``, elementwise."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    difference = np.abs(actual - expected)
    denominator = np.maximum(np.abs(expected), scale)
    # Equal values differ by 0 even where both are 0 (no 0 / 0).
    ratio = np.divide(
        difference, denominator, out=np.zeros_like(difference), where=difference > 0
    )
    return float(np.max(ratio, initial=0.0))


def fit_differences(actual, expected):
    """Largest relative difference of each fitted attribute.

    Relative to the attribute itself, except where a value can cross zero:
    the posterior mean is measured against its posterior sd as well, and the
    ELBO (a sum of terms of order W) against the total weight W, so that a
    value that happens to be near 0 does not turn rounding into a failure.
    """
    assert actual.n_iter_ == expected.n_iter_
    assert actual.converged_ == expected.converged_
    assert actual.n_features_in_ == expected.n_features_in_
    weight = expected.n_samples_seen_
    scales = {
        "posterior_mean_": expected.posterior_std_,
        "sample_mean_": expected.posterior_std_,
        "prior_mean_": 0.0,
    }
    differences = {}
    for name in FITTED_ATTRIBUTES[:-3]:
        if name in ("elbo_", "elbo_history_"):
            scale = weight
        else:
            scale = scales.get(name, 0.0)
        differences[name] = relative_difference(
            getattr(actual, name), getattr(expected, name), scale
        )
    return differences


def assert_same_fit(actual, expected, rtol=1e-10):
    """Every fitted attribute of ``actual`` equals ``expected``'s within ``rtol``."""
    differences = fit_differences(actual, expected)
    worst = max(differences, key=differences.get)
    assert differences[worst] <= rtol, differences
    names = getattr(expected, "feature_names_in_", None)
    if names is None:
        assert not hasattr(actual, "feature_names_in_")
    else:
        np.testing.assert_array_equal(actual.feature_names_in_, names)
    return differences[worst]
