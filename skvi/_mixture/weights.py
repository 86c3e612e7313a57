"""The mixture's weight priors: Dirichlet distribution or Dirichlet process.

``weight_concentration_prior_type`` chooses one :class:`WeightPrior` record
(:data:`WEIGHT_PRIORS`), chosen once into the model, each giving its
M-step, E[log pi_k], KL, point estimate (scikit-learn's ``weights_``), draws
from q (in log space), the log-normaliser of scikit-learn's bound:

- ``"dirichlet_distribution"``: pi ~ Dirichlet(alpha0, ..., alpha0);
  q(pi) = Dirichlet(alpha), alpha_k = alpha0 + N_k (Bishop 10.58);
- ``"dirichlet_process"``: the truncated stick-breaking prior, pi_k = v_k
  prod_{j<k} (1 - v_j), v_k ~ Beta(1, alpha0); q(v_k) = Beta(a_k, b_k),
  a_k = 1 + N_k, b_k = alpha0 + sum_{j>k} N_j (Blei & Jordan 2006),

with their natural parameters for partial_fit's steps and their densities
for the diagnostics' log joint.

References
----------
C. M. Bishop, Pattern Recognition and Machine Learning, Springer, 2006,
§10.2 and Appendix B (B.6, B.16).
D. M. Blei and M. I. Jordan, "Variational inference for Dirichlet process
mixtures", Bayesian Analysis 1(1), 2006.
"""

# SPDX-License-Identifier: BSD-3-Clause

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, logsumexp

from .._core.families.beta import (
    beta_to_natural,
    kl_beta,
    natural_to_beta,
    stick_breaking_expected_log_weights,
)
from .._core.families.dirichlet import (
    _log_dirichlet_normalizer,
    dirichlet_expected_log,
    dirichlet_to_natural,
    kl_dirichlet,
    natural_to_dirichlet,
)


def _concentration_dirichlet_process(n_k, prior):
    """``a_k = 1 + N_k, b_k = alpha0 + sum_{j>k} N_j`` (Blei & Jordan 2006)."""
    return (1.0 + n_k, prior + np.concatenate([np.cumsum(n_k[::-1])[-2::-1], [0.0]]))


def _concentration_dirichlet(n_k, prior):
    """``alpha_k = alpha0 + N_k`` (Bishop 10.58)."""
    return prior + n_k


def _kl_weights_dirichlet_process(concentration, prior):
    a, b = concentration
    return float(np.sum(kl_beta(a, b, 1.0, prior)))


def _kl_weights_dirichlet(concentration, prior):
    return float(kl_dirichlet(concentration, np.full_like(concentration, prior)))


def _point_weights_dirichlet_process(concentration):
    """E[v_k] prod_{j<k} E[1 - v_j], renormalised (scikit-learn's weights_)."""
    a, b = concentration
    weights = a / (a + b) * np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
    return weights / weights.sum()


def _point_weights_dirichlet(concentration):
    return concentration / concentration.sum()


# The weights are drawn in log space: rng.beta and rng.dirichlet round a
# stick near 1 to 1.0 and underflow a small weight to 0.0 (as q(v_K) =
# Beta(1 + N_K, alpha0) and a small alpha0 give), where log v, log(1 - v)
# and log pi_k, which the importance ratios of skvi.diagnostics need, are
# lost. From log-Gamma variates they stay finite.


def _log_gamma_variates(shape, size, rng):
    """``log G``, G ~ Gamma(shape, 1), finite however small the shape.

    ``G(a) = G(a + 1) U**(1/a)`` with U ~ Uniform(0, 1] (the boost of
    Marsaglia and Tsang, 2000, for shapes below 1, used for all):
    ``log G = log G(a + 1) + log(U) / a``.
    """
    return (
        np.log(rng.standard_gamma(shape + 1.0, size=size))
        + np.log1p(-rng.uniform(size=size)) / shape
    )


def _sample_log_sticks(concentration, n_samples, rng):
    """``(log v, log(1 - v))`` of the sticks v_k ~ q(v_k) = Beta(a_k, b_k).

    ``v = G_a / (G_a + G_b)`` with independent Gamma variates, in log space;
    each of shape (n_samples, K).
    """
    a, b = concentration
    size = (n_samples, a.shape[0])
    log_a = _log_gamma_variates(a, size, rng)
    log_b = _log_gamma_variates(b, size, rng)
    log_total = np.logaddexp(log_a, log_b)
    return log_a - log_total, log_b - log_total


def _log_stick_breaking_weights(log_sticks):
    """``log pi_k = log v_k + sum_{j<k} log(1 - v_j)``, k <= K."""
    log_v, log_rest = log_sticks
    return log_v + np.cumsum(log_rest, axis=1) - log_rest


def _sample_log_dirichlet(concentration, n_samples, rng):
    """``log pi``, pi ~ Dirichlet(alpha): normalised Gamma variates, in log space."""
    log_gamma = _log_gamma_variates(
        concentration, (n_samples, concentration.shape[0]), rng
    )
    return log_gamma - logsumexp(log_gamma, axis=1, keepdims=True)


def _log_norm_weights_dirichlet_process(concentration):
    return -np.sum(betaln(*concentration))


def _log_norm_weights_dirichlet(concentration):
    return _log_dirichlet_normalizer(concentration)


def _beta_to_natural(concentration):
    return beta_to_natural(*concentration)


def _log_density_sticks(log_sticks, concentration):
    """``sum_k log Beta(v_k | a_k, b_k)`` per draw, from ``(log v, log(1 - v))``.

    ``(a_k - 1) log v_k + (b_k - 1) log(1 - v_k) - log B(a_k, b_k)``, the
    Beta density (Bishop, B.6).
    """
    log_v, log_rest = log_sticks
    a, b = concentration
    return np.sum((a - 1.0) * log_v + (b - 1.0) * log_rest - betaln(a, b), axis=1)


def _log_density_dirichlet(log_pi, concentration):
    """``log Dirichlet(pi | alpha)`` per draw, from ``log pi`` (Bishop, B.16).

    ``log C(alpha) + sum_k (alpha_k - 1) log pi_k``.
    """
    return _log_dirichlet_normalizer(concentration) + np.sum(
        (concentration - 1.0) * log_pi, axis=1
    )


@dataclass(frozen=True, eq=False)
class WeightPrior:
    """What one weight prior supplies to the mixture's steps.

    ``concentration`` is q's: the Beta pairs ``(a, b)`` of the sticks, or
    the Dirichlet's ``alpha``.

    Attributes
    ----------
    name : str
        The ``weight_concentration_prior_type``.
    update : callable
        ``(N_k, alpha0) ->`` q's concentration (the M-step).
    expected_log : callable
        ``concentration -> E[log pi_k]`` (the E-step).
    kl : callable
        ``(concentration, alpha0) -> KL(q || p)`` (the ELBO).
    point : callable
        ``concentration ->`` scikit-learn's ``weights_``.
    sample : callable
        ``(concentration, n, rng) ->`` the weights' variables drawn from q,
        in log space (the sticks' ``(log v, log(1 - v))``, or ``log pi``).
    log_weights : callable
        Those variables ``-> log pi``.
    log_norm : callable
        ``concentration ->`` the log-normaliser in scikit-learn's bound.
    to_natural, from_natural : callable
        q's natural parameters, for partial_fit's steps.
    log_density : callable
        ``(variables, concentration) ->`` their log density per draw, under
        q's concentration or the prior's.
    prior_concentration : callable
        ``(concentration, alpha0) ->`` the prior's in the form of q's:
        Beta(1, alpha0) for each stick, Dirichlet(alpha0, ..., alpha0).
    """

    name: str
    update: Callable
    expected_log: Callable
    kl: Callable
    point: Callable
    sample: Callable
    log_weights: Callable
    log_norm: Callable
    to_natural: Callable
    from_natural: Callable
    log_density: Callable
    prior_concentration: Callable

    def __reduce__(self):
        # Pickled by name, as the covariance types' records.
        return (weight_prior, (self.name,))


def weight_prior(name):
    """The record of ``weight_concentration_prior_type`` ``name``."""
    return WEIGHT_PRIORS[name]


DIRICHLET_PROCESS = WeightPrior(
    name="dirichlet_process",
    update=_concentration_dirichlet_process,
    expected_log=lambda c: stick_breaking_expected_log_weights(*c),
    kl=_kl_weights_dirichlet_process,
    point=_point_weights_dirichlet_process,
    sample=_sample_log_sticks,
    log_weights=_log_stick_breaking_weights,
    log_norm=_log_norm_weights_dirichlet_process,
    to_natural=_beta_to_natural,
    from_natural=natural_to_beta,
    log_density=_log_density_sticks,
    prior_concentration=lambda concentration, prior: (1.0, prior),
)

DIRICHLET_DISTRIBUTION = WeightPrior(
    name="dirichlet_distribution",
    update=_concentration_dirichlet,
    expected_log=dirichlet_expected_log,
    kl=_kl_weights_dirichlet,
    point=_point_weights_dirichlet,
    sample=_sample_log_dirichlet,
    log_weights=lambda log_pi: log_pi,
    log_norm=_log_norm_weights_dirichlet,
    to_natural=dirichlet_to_natural,
    from_natural=natural_to_dirichlet,
    log_density=_log_density_dirichlet,
    prior_concentration=lambda concentration, prior: np.full_like(concentration, prior),
)

WEIGHT_PRIORS = {
    record.name: record for record in (DIRICHLET_PROCESS, DIRICHLET_DISTRIBUTION)
}
