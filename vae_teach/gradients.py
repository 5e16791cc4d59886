"""Two Monte Carlo estimators of the gradient of an expectation (chapter 4).

We want the gradient, with respect to (mu, sigma), of

    L(mu, sigma) = E_{z ~ N(mu, sigma^2)}[ f(z) ].

* Reparameterization (pathwise) estimator: write z = mu + sigma * eps with eps ~ N(0, 1), so
  L = E_eps[f(mu + sigma * eps)] and

      grad_mu L    ~= 1/n sum_i f'(z_i),      grad_sigma L ~= 1/n sum_i f'(z_i) * eps_i.

  Here the derivative is taken by autograd *through* z, exactly as in a VAE.
* Score-function (REINFORCE, Williams 1992) estimator: grad L = E[f(z) grad log N(z; mu, sigma^2)], so

      grad_mu L    ~= 1/n sum_i f(z_i) (z_i - mu) / sigma^2,
      grad_sigma L ~= 1/n sum_i f(z_i) ( (z_i - mu)^2 / sigma^3 - 1 / sigma ).

  It needs only values of f, not its derivative, and is unbiased too, but usually has a far
  larger variance.

Both functions return ``[repeats, 2]``: ``repeats`` independent estimates of
(dL/dmu, dL/dsigma), each averaging ``n_samples`` draws, so the spread across repeats is the
estimator's variance at that sample size.
"""
from __future__ import annotations

from typing import Callable

import torch

Objective = Callable[[torch.Tensor], torch.Tensor]


def _check(mu: float, sigma: float, n_samples: int, repeats: int) -> None:
    if not sigma > 0:
        raise ValueError(f"sigma (a standard deviation) must be positive, got {sigma}")
    if n_samples < 1 or repeats < 1:
        raise ValueError(f"n_samples and repeats must be >= 1, got {n_samples} and {repeats}")


def reparameterization_gradient(f: Objective, mu: float, sigma: float, n_samples: int,
                                repeats: int = 1, seed: int = 0) -> torch.Tensor:
    """Pathwise estimates of (dL/dmu, dL/dsigma) for L = E_{N(mu, sigma^2)}[f(z)], shape ``[repeats, 2]``.

    z = mu + sigma * eps and autograd differentiates f(z) with respect to mu and sigma.
    ``f`` maps a tensor of z values to a tensor of the same shape (elementwise).
    """
    _check(mu, sigma, n_samples, repeats)
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(repeats, n_samples, generator=g, dtype=torch.float64)
    m = torch.full((repeats, 1), float(mu), dtype=torch.float64, requires_grad=True)
    s = torch.full((repeats, 1), float(sigma), dtype=torch.float64, requires_grad=True)
    z = m + s * eps
    estimate = f(z).mean(dim=1)  # one Monte Carlo estimate of L per repeat
    gm, gs = torch.autograd.grad(estimate.sum(), (m, s))
    return torch.cat([gm, gs], dim=1)


def score_function_gradient(f: Objective, mu: float, sigma: float, n_samples: int,
                            repeats: int = 1, seed: int = 0, baseline: float = 0.0) -> torch.Tensor:
    """REINFORCE estimates of (dL/dmu, dL/dsigma), shape ``[repeats, 2]``: mean of (f(z) - b) * score.

    ``baseline`` b is a constant subtracted from f; any constant keeps the estimator unbiased
    because E[score] = 0. The draws match :func:`reparameterization_gradient` with the same seed.
    """
    _check(mu, sigma, n_samples, repeats)
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(repeats, n_samples, generator=g, dtype=torch.float64)
    with torch.no_grad():
        z = mu + sigma * eps
        fz = f(z) - baseline
        score_mu = (z - mu) / sigma ** 2
        score_sigma = (z - mu) ** 2 / sigma ** 3 - 1.0 / sigma
        return torch.stack([(fz * score_mu).mean(1), (fz * score_sigma).mean(1)], dim=1)
