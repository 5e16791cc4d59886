"""KL divergence between diagonal Gaussians: closed form and Monte Carlo (chapters 3 and 6).

For one latent dimension, with q = N(mu, sigma^2) and prior p = N(m, s^2):

    KL(q || p) = log(s / sigma) + (sigma^2 + (mu - m)^2) / (2 s^2) - 1/2

In log-variances (``logvar = log sigma^2``, ``prior_logvar = log s^2``):

    KL = 1/2 * [ prior_logvar - logvar + (exp(logvar) + (mu - m)^2) / exp(prior_logvar) - 1 ]

summed over latent dimensions. With the standard prior N(0, 1) this is the familiar
``-1/2 * sum(1 + logvar - mu^2 - exp(logvar))``. Chapter 6 derives it.
"""
from __future__ import annotations

import math

import torch

from .validate import as_tensor, batched, float_tensor


def _prior(name: str, value, mu: torch.Tensor) -> torch.Tensor:
    """A prior parameter as a tensor like ``mu``: a number, ``[D]``, ``[1, D]`` or ``[N, D]``.

    Any other shape is refused instead of broadcast: a per-sample prior ``[N, 1]`` or ``[D, 1]``, or
    a 3-d one, would otherwise spread along the wrong axis and give a wrong KL without an error.
    """
    t = as_tensor(name, value)
    float_tensor(name, t)
    n, d = mu.shape[0], mu.shape[-1]
    ok = t.dim() == 0 or tuple(t.shape) in ((d,), (1, d), (n, d)) or (t.dim() == 1 and t.numel() == 1)
    if not ok or (mu.dim() != 2 and t.dim() > 1 and tuple(t.shape) != tuple(mu.shape)):
        raise ValueError(f"{name} must be a number, shape [D] = [{d}] (one value per latent dimension) or "
                         f"[N, D] = [{n}, {d}] (one prior per sample), got shape {tuple(t.shape)}; for one prior value per "
                         f"sample, expand it to [N, D] first, e.g. {name}.reshape(-1, 1).expand(-1, {d})")
    return t.to(mu)


def kl_diag_gaussians(mu: torch.Tensor, logvar: torch.Tensor,
                      prior_mu: float | torch.Tensor = 0.0,
                      prior_logvar: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Closed-form KL(N(mu, exp(logvar)) || N(prior_mu, exp(prior_logvar))), per sample.

    ``mu`` and ``logvar``: ``[N, D]``. The prior parameters are a number, ``[D]`` or ``[N, D]``
    (other shapes are refused, not broadcast). Returns ``[N]``: nats per sample, summed over the D latent dimensions.
    Note ``logvar`` is log sigma^2, not log sigma. Example: prior N(1, 2^2) is
    ``prior_mu=1.0, prior_logvar=math.log(4.0)``.
    """
    return kl_per_dimension(mu, logvar, prior_mu, prior_logvar).flatten(1).sum(dim=1)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor,
                     prior_mu: float | torch.Tensor = 0.0,
                     prior_logvar: float | torch.Tensor = 0.0) -> torch.Tensor:
    """The closed-form KL of :func:`kl_diag_gaussians` before the sum over latent dimensions: ``[N, D]``.

    KL_nj = 1/2 * [ prior_logvar_j - logvar_nj + (exp(logvar_nj) + (mu_nj - prior_mu_j)^2) / exp(prior_logvar_j) - 1 ],
    the KL of latent dimension j for sample n (chapter 12 reads posterior collapse from it).
    """
    mu = as_tensor("mu", mu)
    logvar = as_tensor("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu has shape {tuple(mu.shape)} but logvar has shape {tuple(logvar.shape)}")
    batched("mu", mu)
    float_tensor("mu", mu)
    prior_mu = _prior("prior_mu", prior_mu, mu)
    prior_logvar = _prior("prior_logvar", prior_logvar, mu)
    per_dim = 0.5 * (prior_logvar - logvar
                     + (logvar.exp() + (mu - prior_mu).pow(2)) / prior_logvar.exp()
                     - 1.0)
    return per_dim


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension.

    log N = -1/2 * sum( log(2 pi) + logvar + (z - mu)^2 / exp(logvar) ).
    """
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


def kl_monte_carlo(mu: torch.Tensor, logvar: torch.Tensor,
                   prior_mu: float | torch.Tensor = 0.0, prior_logvar: float | torch.Tensor = 0.0,
                   n_samples: int = 1000, generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte Carlo KL: mean over ``n_samples`` draws z ~ q of log q(z) - log p(z). Returns ``[N]``.

    Unbiased for the closed form above; its standard error shrinks as 1/sqrt(n_samples).
    """
    mu = as_tensor("mu", mu)
    logvar = as_tensor("logvar", logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu has shape {tuple(mu.shape)} but logvar has shape {tuple(logvar.shape)}")
    batched("mu", mu)
    float_tensor("mu", mu)
    prior_mu = _prior("prior_mu", prior_mu, mu).expand_as(mu)
    prior_logvar = _prior("prior_logvar", prior_logvar, mu).expand_as(mu)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + (0.5 * logvar).exp() * eps
    return (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, prior_mu, prior_logvar)).mean(dim=0)
