"""Moving code between modules changed no fitted number (issue 19, #16).

``tests/data/layout_reference.npz`` holds every fitted attribute, the held-out
``score_samples``, the mixture's ``predict_proba`` and the credible intervals
of 21 fits (every estimator, covariance type, weight prior, weights, streams),
as the code computed them before the models moved into their own packages
(``tests/data/make_layout_reference.py``, run once at commit 3913edd). Today's
code must give each of them to 1e-12, relative to the value (absolute near 0).
"""

# SPDX-License-Identifier: BSD-3-Clause

import importlib.util
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location(
        "make_layout_reference", HERE / "make_layout_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()
CASES = list(MAKER.cases())


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_same_fit_as_before_the_layout(case):
    name, estimator, X, sample_weight, how = case
    reference = np.load(HERE / "layout_reference.npz")
    expected = {
        key: reference[key] for key in reference.files if key.startswith(f"{name}/")
    }
    assert len(expected) >= 8, "the reference lost this case"
    actual = MAKER.values(
        name, MAKER.fit(estimator, X, sample_weight, how), X, sample_weight
    )
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(
            actual[key],
            value,
            rtol=1e-12,
            atol=1e-12 * np.max(np.abs(value)),
            err_msg=key,
        )
