"""Linear-response covariances (Giordano, Broderick and Jordan, 2015)."""

# SPDX-License-Identifier: BSD-3-Clause

from ._protocol import check_protocol

# The algorithm, Sigma_LR = (I - V H)^-1 V (Giordano et al., 2015, eq. 11),
# reduces for the Normal model to closed forms (the docstring below), which
# the model computes where its maths lives (skvi._normal.diag's comment on linear
# response) and gives through the protocol's _linear_response.


def linear_response_std(estimator):
    r"""Linear-response corrected sds of ``mu`` and ``tau`` at the CAVI fixed point.

    Mean-field q(mu) q(tau) cannot represent the posterior's dependence
    between ``mu`` and ``tau``, so its sds are too small when that dependence
    is strong (data in conflict with the prior on ``mu``). Linear response
    (Giordano, Broderick and Jordan, 2015) recovers it from how q's means
    respond to a perturbation of the log joint, in closed form here.

    Parameters
    ----------
    estimator : VariationalNormalEstimator
        A fitted estimator (``covariance_type='diag'``), at (or near) the
        CAVI fixed point; any estimator that answers the protocol's
        ``_linear_response`` (see :mod:`skvi.diagnostics`).

    Returns
    -------
    std : LinearResponseStd
        ``std.std`` and ``std.tau_std``, the corrected sds of ``mu`` and of
        ``tau``, arrays of shape (n_features,).
        NaN where the fixed point is not a strict maximum of the ELBO in the
        directions that linear response probes (``D <= 0`` below): there the
        exact posterior is far from any product q(mu) q(tau) (typically two
        modes), and only :func:`exact_posterior` answers.

    Notes
    -----
    Write the mean parameters of the two factors as
    ``m_mu = (E[mu - m], E[(mu - m)**2])`` (centred at q's mean ``m``,
    which leaves linear response unchanged and keeps the numbers small) and
    ``m_tau = (E[tau], E[log tau])``. With ``V`` the block-diagonal
    covariance of the sufficient statistics under q and ``H`` the Hessian
    of the expected log joint in the mean parameters, the linear-response
    covariance is (Giordano et al., 2015, eq. 11)

    .. math:: \Sigma_{LR} = (I - V H)^{-1} V.

    The expected log joint is linear in each factor's mean parameters: only
    the data term couples them, through
    ``-E[tau]/2 W E[(xbar - mu)**2]``, whose cross derivatives are
    ``h1 = W (xbar - m)`` (in ``E[mu - m]`` and ``E[tau]``) and ``-W/2``
    (in ``E[(mu - m)**2]`` and ``E[tau]``); ``H = [[0, Hc], [Hc^T, 0]]`` with
    ``Hc = [[h1, 0], [-W/2, 0]]``. Under q, ``V_mu = diag(s**2, 2 s**4)`` and
    ``V_tau = [[a/b**2, 1/b], [1/b, psi'(a)]]``. Then ``V_mu Hc V_tau Hc^T``
    has rank one, and the block inverses reduce to

    .. math::

        g = s^2 h_1^2 + s^4 W^2 / 2, \qquad D = 1 - \frac{a}{b^2} g,

        \mathrm{Var}_{LR}(\mu) = s^2 + \frac{a}{b^2} \frac{s^4 h_1^2}{D},
        \qquad \mathrm{Var}_{LR}(\tau) = \frac{a / b^2}{D}.

    They are computed below from the ratios ``c1 = s W (xbar - m) / b`` and
    ``c2 = s**2 W / b``: ``a g / b**2 = a c1**2 + a c2**2 / 2``.

    Where the data agree with the prior mean (``m = xbar``), ``h1 = 0`` and
    the sd of ``mu`` is not corrected: a tilt ``t mu`` of the log joint moves
    ``E_q[mu]`` but not, to first order, ``E_q[(x - mu)**2]``, so ``E_q[tau]``
    does not respond. This is q's true response (checked by refitting), not
    an approximation of the formula. What mean-field misses there is the
    Student-t shape of the marginal of ``mu``, about ``1/(2 a_n)`` of the sd
    (``a_n = a0 + W/2``) times the data's share of q(mu)'s precision: 3.1%
    at n = 20 with prior ``Normal(xbar, 0.5**2)`` and ``Gamma(2, 2)``, and
    5.1% (mean-field and corrected sd both ``0.9487`` of exact) at n = 20
    under a vague prior on ``mu`` with ``prior_shape=0.5``, where q's mean is
    the data's mean. No linear response sees it, so the corrected sd cannot
    be within 2% of exact at n = 20 whatever the conflict (0.953 with the
    data 4 prior sds away; within 2% from n = 100). Where data and prior
    conflict, the correction removes most of mean-field's error (tables in
    the diagnostics guide, measured against :func:`exact_posterior`).

    References
    ----------
    .. [1] R. Giordano, T. Broderick and M. I. Jordan, "Linear response
       methods for accurate covariance estimates from mean field variational
       Bayes", NeurIPS 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from skvi import VariationalNormalEstimator
    >>> from skvi.diagnostics import linear_response_std
    >>> X = np.random.default_rng(0).normal(3.0, 1.0, size=(30, 1))
    >>> est = VariationalNormalEstimator(prior_mean=0.0, prior_std=0.5).fit(X)
    >>> corrected = linear_response_std(est)
    >>> bool(corrected.std[0] > est.posterior_std_[0])
    True
    """
    check_protocol(estimator, "linear_response_std")
    return estimator._linear_response()
