"""Claims of the docs and of pyproject.toml that a test can check."""

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from skvi import VariationalNormalEstimator

ROOT = Path(__file__).resolve().parent.parent


def _lower_bounds(requirements):
    """``name -> lower bound`` of ``name>=version`` requirements."""
    bounds = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[.*\])?>=([0-9.]+)", requirement)
        if match:
            bounds[match[1].lower()] = match[2]
    return bounds


def test_core_lower_bounds_are_the_oldest_versions_ci_tests():
    """pyproject's lower bounds are the versions .ci/min-constraints.txt pins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = _lower_bounds(project["dependencies"])
    pins = dict(
        line.split("==")
        for line in (ROOT / ".ci" / "min-constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert {"pandas", "tqdm"} <= set(bounds)
    for name, bound in bounds.items():
        # 2.2 admits 2.2.3: the pin is the bound's oldest tested release.
        assert pins[name].startswith(bound), (name, bound, pins[name])


def test_fitted_attribute_types_are_as_the_user_guide_says():
    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0, 0.5]}, dtype=np.float32)
    estimator = VariationalNormalEstimator().fit(frame)
    per_feature = [
        "posterior_mean_",
        "posterior_std_",
        "posterior_shape_",
        "posterior_rate_",
        "sample_mean_",
        "noise_std_",
        "prior_mean_",
        "prior_std_",
        "prior_shape_",
        "prior_rate_",
    ]
    for name in per_feature:
        value = getattr(estimator, name)
        assert value.dtype == np.float64 and value.shape == (2,), name
    assert type(estimator.elbo_) is float
    history = estimator.elbo_history_
    assert history.dtype == np.float64 and history.shape == (estimator.n_iter_,)
    assert type(estimator.n_iter_) is int and type(estimator.n_features_in_) is int
    assert type(estimator.converged_) is bool
    assert isinstance(estimator.n_samples_seen_, float)
    assert estimator.feature_names_in_.dtype == object
    guide = (ROOT / "docs" / "user_guide.md").read_text()
    assert "`elbo_` is a float" in guide
