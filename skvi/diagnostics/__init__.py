"""How far a variational fit is from the exact posterior: measure, diagnose, correct.

Three answers to "can I trust q?", from the most to the least specific:

- :func:`exact_posterior`: for the Normal model the exact posterior by
  quadrature, from the statistics the estimator holds (no sampling), and so
  ``KL(q || p) = log p(X) - ELBO``.
- :func:`psis_diagnostic`: where no exact answer exists, importance sampling
  from q against the unnormalised posterior ``p(theta, X)``,
  Pareto-smoothed; the Pareto shape k-hat of the weights' tail says whether
  q is close enough to p for the weights, and so for q itself, to be
  trusted (Yao, Vehtari, Simpson and Gelman, 2018).
- :func:`linear_response_std`: the linear-response correction of
  mean-field covariances (Giordano, Broderick and Jordan, 2015), in closed
  form at the CAVI fixed point.

The functions are algorithms: each asks the estimator for what it needs
through a small protocol of private methods, never through the model's
module or class, and refuses an estimator without them with a ``TypeError``
naming it and the missing capability. A model takes part in a diagnostic by
defining its methods (docs/architecture.md, "What the diagnostics ask: the
protocol"):

- ``psis_diagnostic``: ``_sample_q(n_draws, random_state)``, a dict of draws
  from q with the draws on the first axis (keys named as ``sample_posterior``
  names its outputs are reported; keys that begin with ``_`` are the model's
  own), ``_log_q(draws)`` and ``_log_joint(X, sample_weight, draws)``, each
  of shape ``(n_draws, *groups)`` (a group per feature of independent
  features; none for a whole model);
- ``exact_posterior``: ``_normal_gamma_statistics()``, the total weight, each
  feature's weighted mean and sum of squares about it and the priors
  ``(m0, s0, a0, b0)``, and ``_feature_elbos()``, the fitted ELBO of each
  feature (with the public ``posterior_std_``, q's sd of ``mu``);
- ``linear_response_std``: ``_linear_response()``, the corrected sds;
- any of them, optionally: ``_check_diagnostic(function_name)``, which raises
  a ``ValueError`` where this fit cannot answer.
"""

# SPDX-License-Identifier: BSD-3-Clause

# The result type of the Normal model's linear_response_std method, which
# the model defines (it cannot import diagnostics, a higher layer).
from .._core.normal_gamma import LinearResponseStd
from ._linear_response import linear_response_std
from ._posterior import ExactPosterior, exact_posterior
from ._posterior import feature_elbo as feature_elbo  # importable, as before
from ._psis import PSISDiagnostic, psis_diagnostic

__all__ = [
    "ExactPosterior",
    "LinearResponseStd",
    "PSISDiagnostic",
    "exact_posterior",
    "linear_response_std",
    "psis_diagnostic",
]
