"""Compare two fits of one estimator attribute by attribute.

Which attributes, and the scale each is measured against, come from the
estimator's entry in ``tests/_registry.py``.
"""

import numpy as np

from tests._registry import entry_for


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


def fit_differences(actual, expected, entry=None):
    """Largest relative difference of each fitted attribute.

    Relative to the attribute itself, except where a value can cross zero:
    there the entry's ``scales`` give the scale below which a difference is
    absolute (for the Normal, the posterior mean against its posterior sd, and
    the ELBO, a sum of terms of order W, against the total weight W), so that
    a value that happens to be near 0 does not turn rounding into a failure.
    The entry's ``exact_attributes`` must be equal.
    """
    entry = entry_for(expected) if entry is None else entry
    for name in entry.exact_attributes:
        assert getattr(actual, name) == getattr(expected, name), name
    differences = {}
    for name in entry.fitted_attributes:
        scale = entry.scales.get(name)
        differences[name] = relative_difference(
            getattr(actual, name),
            getattr(expected, name),
            0.0 if scale is None else scale(expected),
        )
    return differences


def assert_same_fit(actual, expected, rtol=1e-10, entry=None):
    """Every fitted attribute of ``actual`` equals ``expected``'s within ``rtol``."""
    differences = fit_differences(actual, expected, entry)
    worst = max(differences, key=differences.get)
    assert differences[worst] <= rtol, differences
    names = getattr(expected, "feature_names_in_", None)
    if names is None:
        assert not hasattr(actual, "feature_names_in_")
    else:
        np.testing.assert_array_equal(actual.feature_names_in_, names)
    return differences[worst]
