"""What skvi.diagnostics asks of an estimator: the protocol, and its check."""

# SPDX-License-Identifier: BSD-3-Clause

# The diagnostics are algorithms; the models answer them through private
# methods, so that diagnostics never imports a model's module nor tests its
# class. A model takes part in a diagnostic by defining its methods (listed
# here and in docs/architecture.md, "What the diagnostics ask"):
#
# psis_diagnostic (importance sampling from q; any model):
#   _sample_q(n_draws, random_state) -> dict of draws from q, each of shape
#       (n_draws, *groups, ...). Keys named as sample_posterior names its
#       outputs are the parameters that psis_diagnostic reports; keys that
#       begin with "_" are the model's own (Cholesky factors, log weights)
#       for _log_joint and _log_q.
#   _log_q(draws) -> log q(theta_s), shape (n_draws, *groups)
#   _log_joint(X, sample_weight, draws) -> log p(theta_s, X), same shape, on
#       X already validated by check_data(reset=False) (numpy, pandas or dask:
#       dask collections are reduced on the workers, never gathered)
#   A group is what one k-hat speaks for: a feature of a model whose features
#   are independent a posteriori, or the whole model (no group axis).
#
# exact_posterior (a Normal likelihood with Normal and Gamma priors on each
# feature's mean and precision, whose tau integrates out):
#   _normal_gamma_statistics() -> (W, xbar, S, (m0, s0, a0, b0)): the total
#       weight, each feature's weighted mean and sum of squares about it, and
#       the priors, float64 arrays of shape (n_features,) (W a scalar)
#   _feature_elbos() -> the fitted ELBO of each feature, summing to elbo_
#   (and the public posterior_std_, q's sd of mu, for the sd ratio)
#
# linear_response_std:
#   _linear_response() -> LinearResponseStd of the fitted q (closed form)
#
# Any diagnostic, optional:
#   _check_diagnostic(function_name): raise a ValueError where this fitted
#       estimator cannot answer (the Normal's covariance_type="full" fit has
#       no q(tau) for the diagonal model's tools).

from sklearn.utils.validation import check_is_fitted

# What each diagnostic needs: its methods, in words, and models that have them.
_CAPABILITIES = {
    "psis_diagnostic": (
        ("_sample_q", "_log_q", "_log_joint"),
        "draws from q and the model's log joint",
        "VariationalNormalEstimator, VariationalStudentEstimator and "
        "VariationalGaussianMixture",
    ),
    "exact_posterior": (
        ("_normal_gamma_statistics", "_feature_elbos"),
        "the Normal-Gamma statistics of each feature",
        "VariationalNormalEstimator",
    ),
    "linear_response_std": (
        ("_linear_response",),
        "a closed-form linear response of q",
        "VariationalNormalEstimator",
    ),
}


def check_protocol(estimator, function_name):
    """Refuse, with a clear message, an estimator that cannot answer ``function_name``.

    A ``TypeError`` naming the estimator and the missing capability when it
    lacks the protocol's methods; scikit-learn's ``NotFittedError`` when it is
    not fitted; then the estimator's own ``_check_diagnostic``, if it has one.
    """
    methods, capability, examples = _CAPABILITIES[function_name]
    missing = [name for name in methods if not callable(getattr(estimator, name, None))]
    if missing:
        raise TypeError(
            f"{function_name} does not know {type(estimator).__name__}: it needs "
            f"{capability}, the methods {', '.join(missing)} of skvi.diagnostics' "
            f"protocol (answered by {examples})."
        )
    check_is_fitted(estimator)
    check = getattr(estimator, "_check_diagnostic", None)
    if check is not None:
        check(function_name)
