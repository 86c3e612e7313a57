"""The variational families, one module per distribution.

Each module holds everything skvi computes about one family, the maths beside
the code: its expectations, its KL divergence between two members, its
log-normaliser where another formula needs it, and its natural parameters
(the conjugate families that stochastic VI steps):

- :mod:`~skvi._core.families.normal`: ``E_q[log Normal(x | mu, 1/tau)]`` under
  q(mu) q(tau) (one formula for the ELBO's data term and ``score_samples``),
  the univariate and multivariate Normal KLs in ratio form;
- :mod:`~skvi._core.families.gamma`: ``E[tau]``, ``E[log tau]`` and the KL;
- :mod:`~skvi._core.families.wishart`: ``E[Lambda]``, ``E[log|Lambda|]``, the
  log-normaliser, the Wishart and Normal-Wishart KLs and the Normal-Wishart's
  natural parameters (the mixture's component family);
- :mod:`~skvi._core.families.dirichlet`: ``E[log pi]``, the KL and the natural
  parameters;
- :mod:`~skvi._core.families.beta`: ``E[log v]``, ``E[log(1 - v)]``, the
  stick-breaking weights ``E[log pi_k]``, the KL and the natural parameters.

Why by family, not by quantity. These formulas used to sit in three modules
that mirrored each other (expectations, KLs, natural parameters), each with
a section per family. A reader checking a model's factor asks about one
distribution at a time: the mixture's Wishart needs ``E[Lambda]``,
``E[log|Lambda|]``, its KL and its natural parameters, and each KL is written
with that family's expectations and normaliser (the Wishart KL with the
multivariate digamma and Gamma functions, the Beta's as the two-category
Dirichlet). By family, that reading is one module of 60 to 380 lines whose
helpers are its own, instead of three files and cross-imports of private
helpers between them; the parametrisation is stated once, below, and each
module's tests against scipy, quadrature and Monte Carlo stay grouped by
quantity in ``tests/test_expectations.py``, ``test_kl.py`` and
``test_natural.py``, which compare like with like across the families. The
stochastic VI step, which is no family's, lives in :mod:`skvi._core.svi`.

Conventions. Every function is a pure, vectorised function of arrays:
leading axes (features, mixture components) broadcast; matrix arguments
carry their two matrix axes last and simplex arguments their category axis
last. Each ``kl_<family>(q parameters, prior parameters)`` returns
``KL(q || prior) = E_q[log q - log prior]`` in nats; where a parameter may be
extreme (a prior standard deviation of 1e-200 or 1e200, say), it is written
through ratios of like quantities (``s / s0``, ``L0^-1 L``, ``beta0 / beta``)
so that it stays finite and accurate whenever the divergence itself is
representable. Every ``<family>_to_natural`` returns a tuple of arrays and
every ``natural_to_<family>`` takes one, so that
``natural_to_beta(natural_step(beta_to_natural(a, b), target, rho))`` reads
as the update it is.

Notation (Bishop, *Pattern Recognition and Machine Learning*, 2006, §10.1-10.2
and Appendix B):

- ``Normal(m, s2)``: mean ``m``, variance ``s2``.
- ``Gamma(a, b)``: shape ``a``, **rate** ``b``; density
  ``b**a / Gamma(a) * tau**(a - 1) * exp(-b * tau)``.
- ``Wishart(W, nu)``: scale matrix ``W`` (d, d), ``nu > d - 1`` degrees of
  freedom; density ``B(W, nu) |Lambda|**((nu - d - 1)/2) exp(-tr(W^-1 Lambda)/2)``
  (B.78), so that ``E[Lambda] = nu W``.
- ``Dirichlet(alpha)``: concentrations ``alpha_k > 0`` on the last axis.
- ``Beta(a, b)``: the law of the first coordinate of ``Dirichlet((a, b))``.
"""
