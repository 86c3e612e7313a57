"""Fitted attributes of VariationalNormalEstimator as skvi 0.1 computed them.

Run once, at commit 78bc1c9 (skvi 0.1.0, before the estimator moved onto the
shared fitting loop of skvi._core.base), to write ``normal_v01_reference.npz``.
Each case is fitted twice: with its own settings (``NAME/attr``) and with
plain CAVI run to its fixed point, ``tol=0`` and no iteration limit
(``NAME/fixed/attr``). ``tests/test_normal.py`` checks today's fits against
them: the move onto skvi._core.base changed nothing to 1e-12 (checked on the
settings' fits at that commit), and the exact fixed-point solve of skvi 0.2
lands where plain CAVI ends after its 50 to 2000 sweeps. Do not regenerate it
with later code: it would then only compare the code with itself.
"""

import warnings
from pathlib import Path

import numpy as np

from skvi import VariationalNormalEstimator

V01_DEFAULT_PRIORS = {
    "prior_mean": 0.0,
    "prior_std": 1.0,
    "prior_shape": 1.0,
    "prior_rate": 1.0,
}

ATTRIBUTES = [
    "posterior_mean_",
    "posterior_std_",
    "posterior_shape_",
    "posterior_rate_",
    "noise_std_",
    "sample_mean_",
    "elbo_",
    "elbo_history_",
    "n_iter_",
    "converged_",
    "n_samples_seen_",
]


def cases():
    """``(name, params, X, sample_weight, n_chunks)`` for each reference fit."""
    rng = np.random.default_rng(20261126)
    yield "small", {}, rng.normal(0.3, 1.0, size=(5, 3)), None, 1
    yield "n2", {}, rng.normal(size=(2, 2)), None, 1
    yield "conflict", {"prior_mean": -3.0}, rng.normal(4.0, 2.0, (20, 2)), None, 1
    yield (
        "vague",
        {"prior_std": 100.0, "prior_rate": 0.1},
        rng.normal(50.0, 5.0, (400, 4)),
        None,
        1,
    )
    yield (
        "weighted",
        {"prior_std": [1.0, 10.0, 0.1]},
        rng.normal(1.0, 3.0, (300, 3)),
        rng.integers(0, 5, 300).astype(float),
        1,
    )
    yield (
        "far",
        {"prior_mean": 1e6, "prior_std": 1e3},
        1e6 + rng.normal(size=(2000, 2)),
        None,
        1,
    )
    yield (
        "streamed",
        {"prior_shape": 2.0, "prior_rate": 3.0},
        rng.normal(-2.0, 0.5, (1000, 3)),
        rng.uniform(0.0, 2.0, 1000),
        7,
    )
    yield (
        "max_iter",
        {"max_iter": 2, "prior_mean": 10.0},
        rng.normal(size=(10, 1)),
        None,
        1,
    )


def fit(name, params, X, sample_weight, n_chunks, fixed_point=False):
    if fixed_point:
        params = dict(params, tol=0.0, max_iter=100_000)
    # skvi 0.1's default priors, explicit since the defaults are data-resolved.
    est = VariationalNormalEstimator(**{**V01_DEFAULT_PRIORS, **params})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_chunks == 1:
            return est.fit(X, sample_weight=sample_weight)
        for rows in np.array_split(np.arange(len(X)), n_chunks):
            est.partial_fit(X[rows], sample_weight=sample_weight[rows])
        return est


if __name__ == "__main__":
    arrays = {}
    for case in cases():
        est = fit(*case)
        for attribute in ATTRIBUTES:
            arrays[f"{case[0]}/{attribute}"] = np.asarray(getattr(est, attribute))
        est = fit(*case, fixed_point=True)
        for attribute in ATTRIBUTES:
            value = np.asarray(getattr(est, attribute))
            arrays[f"{case[0]}/fixed/{attribute}"] = value
    np.savez(Path(__file__).with_name("normal_v01_reference.npz"), **arrays)
