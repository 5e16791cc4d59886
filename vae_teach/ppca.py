"""A linear-Gaussian latent variable model (probabilistic PCA) where everything is exact (chapter 3).

Model (Tipping & Bishop, 1999), with x in R^d and z in R^D:

    p(z) = N(0, I_D),    p_theta(x | z) = N(W z + b, sigma^2 I_d)

Because everything is Gaussian and linear, three quantities a VAE can only bound or estimate are
available in closed form here:

* the evidence        log p(x) = log N(x; b, W W^T + sigma^2 I_d)
* the exact posterior p(z | x) = N(M^{-1} W^T (x - b), sigma^2 M^{-1}),  M = W^T W + sigma^2 I_D
* the ELBO of any Gaussian q(z | x) = N(m, S):

      ELBO(q) = E_q[log p(x | z)] - KL(q || p(z))
      E_q[log p(x|z)] = -d/2 log(2 pi sigma^2) - ( ||x - W m - b||^2 + tr(W S W^T) ) / (2 sigma^2)
      KL(N(m, S) || N(0, I)) = 1/2 [ tr S + m^T m - D - log|S| ]

so chapter 3 can check log p(x) = ELBO(q) + KL(q || p(z | x)) to machine precision.
All functions take and return float64 torch tensors; ``x`` is ``[N, d]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class PPCA:
    """Parameters: ``W [d, D]``, ``b [d]``, ``sigma2`` (the decoder's noise variance sigma^2 > 0)."""

    W: torch.Tensor
    b: torch.Tensor
    sigma2: float

    def __post_init__(self) -> None:
        self.W = torch.as_tensor(self.W, dtype=torch.float64)
        self.b = torch.as_tensor(self.b, dtype=torch.float64)
        if self.W.dim() != 2:
            raise ValueError(f"W must have shape [d, D], got {tuple(self.W.shape)}")
        if self.b.shape != (self.W.shape[0],):
            raise ValueError(f"b must have shape [d] = [{self.W.shape[0]}], got {tuple(self.b.shape)}")
        if not float(self.sigma2) > 0:
            raise ValueError(f"sigma2 (a variance) must be positive, got {self.sigma2}")
        self.sigma2 = float(self.sigma2)

    @property
    def d(self) -> int:
        return self.W.shape[0]

    @property
    def D(self) -> int:
        return self.W.shape[1]

    def _x(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape [N, d] = [N, {self.d}], got {tuple(x.shape)}")
        return x

    def sample(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling: z ~ p(z), then x ~ p(x | z). Returns ``(x [n, d], z [n, D])``."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.D, generator=g, dtype=torch.float64)
        noise = torch.randn(n, self.d, generator=g, dtype=torch.float64)
        return z @ self.W.T + self.b + math.sqrt(self.sigma2) * noise, z

    def log_likelihood(self, x) -> torch.Tensor:
        """log p(x) = log N(x; b, W W^T + sigma^2 I), exact, per point ``[N]`` (nats)."""
        x = self._x(x)
        cov = self.W @ self.W.T + self.sigma2 * torch.eye(self.d, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, covariance_matrix=cov).log_prob(x)

    def log_likelihood_given_z(self, x, z) -> torch.Tensor:
        """log p(x | z) = -d/2 log(2 pi sigma^2) - ||x - W z - b||^2 / (2 sigma^2); broadcasts over leading dims."""
        resid = x - (z @ self.W.T + self.b)
        return -0.5 * self.d * math.log(2 * math.pi * self.sigma2) - resid.pow(2).sum(-1) / (2 * self.sigma2)

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z | x) = N(mean, cov): ``mean [N, D]`` and the shared ``cov [D, D]``.

        mean = M^{-1} W^T (x - b), cov = sigma^2 M^{-1}, with M = W^T W + sigma^2 I_D.
        """
        x = self._x(x)
        M = self.W.T @ self.W + self.sigma2 * torch.eye(self.D, dtype=torch.float64)
        Minv = torch.linalg.inv(M)
        return (x - self.b) @ self.W @ Minv.T, self.sigma2 * Minv

    def elbo(self, x, q_mean, q_cov) -> torch.Tensor:
        """Closed-form ELBO(q) = E_q[log p(x|z)] - KL(q || p(z)) for q = N(q_mean, q_cov), per point ``[N]``.

        ``q_mean [N, D]``; ``q_cov [D, D]`` (shared) or ``[N, D, D]``.
        """
        x = self._x(x)
        q_mean, q_cov = _check_q(q_mean, q_cov, x.shape[0], self.D)
        resid = x - q_mean @ self.W.T - self.b
        tr_wsw = torch.einsum("ij,njk,ik->n", self.W, q_cov, self.W)  # tr(W S W^T)
        expected_ll = (-0.5 * self.d * math.log(2 * math.pi * self.sigma2)
                       - (resid.pow(2).sum(-1) + tr_wsw) / (2 * self.sigma2))
        zeros = torch.zeros_like(q_mean)
        eye = torch.eye(self.D, dtype=torch.float64).expand_as(q_cov)
        return expected_ll - kl_gaussians(q_mean, q_cov, zeros, eye)

    def elbo_monte_carlo(self, x, q_mean, q_cov, n_samples: int = 1000, seed: int = 0) -> torch.Tensor:
        """Monte Carlo ELBO: mean over z = m + L eps (L L^T = S) of log p(x|z) + log p(z) - log q(z), ``[N]``."""
        x = self._x(x)
        q_mean, q_cov = _check_q(q_mean, q_cov, x.shape[0], self.D)
        g = torch.Generator().manual_seed(seed)
        eps = torch.randn(n_samples, *q_mean.shape, generator=g, dtype=torch.float64)
        L = torch.linalg.cholesky(q_cov)
        z = q_mean + torch.einsum("nij,snj->sni", L, eps)
        q = torch.distributions.MultivariateNormal(q_mean, scale_tril=L)
        prior = torch.distributions.MultivariateNormal(torch.zeros(self.D, dtype=torch.float64),
                                                       torch.eye(self.D, dtype=torch.float64))
        return (self.log_likelihood_given_z(x, z) + prior.log_prob(z) - q.log_prob(z)).mean(0)


def _check_q(q_mean, q_cov, n: int, D: int) -> tuple[torch.Tensor, torch.Tensor]:
    q_mean = torch.as_tensor(q_mean, dtype=torch.float64)
    q_cov = torch.as_tensor(q_cov, dtype=torch.float64)
    if q_mean.shape != (n, D):
        raise ValueError(f"q_mean must have shape [N, D] = [{n}, {D}], got {tuple(q_mean.shape)}")
    if q_cov.shape == (D, D):
        q_cov = q_cov.expand(n, D, D)
    if q_cov.shape != (n, D, D):
        raise ValueError(f"q_cov must have shape [D, D] or [N, D, D] with D = {D}, got {tuple(q_cov.shape)}")
    return q_mean, q_cov


def kl_gaussians(m1: torch.Tensor, S1: torch.Tensor, m2: torch.Tensor, S2: torch.Tensor) -> torch.Tensor:
    """KL(N(m1, S1) || N(m2, S2)) for full covariances, batched: means ``[N, D]``, covariances ``[N, D, D]``.

    KL = 1/2 [ tr(S2^{-1} S1) + (m2 - m1)^T S2^{-1} (m2 - m1) - D + log|S2| - log|S1| ].
    """
    D = m1.shape[-1]
    S2inv = torch.linalg.inv(S2)
    diff = (m2 - m1).unsqueeze(-1)
    maha = (diff.transpose(-1, -2) @ S2inv @ diff)[..., 0, 0]
    trace = torch.diagonal(S2inv @ S1, dim1=-2, dim2=-1).sum(-1)
    return 0.5 * (trace + maha - D + torch.logdet(S2) - torch.logdet(S1))
