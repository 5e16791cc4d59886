"""The importance-weighted bound as a training objective (Burda, Grosse & Salakhutdinov, 2016; chapter 13).

With k samples z_1..z_k ~ q(z|x), reparameterized (z_i = mu + sigma * eps_i), and the log-weights

    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x),

    L_k(x) = E[ log (1/k) sum_i w_i ] = E[ logsumexp_i(log w_i) - log k ]  <=  log p(x).

L_1 is the ELBO (with the Monte Carlo KL); L_k rises with k (Burda et al.'s theorem 1). Training
on -L_k is the IWAE: its gradient weights each sample by its normalized weight w_i / sum_j w_j.
Values are nats per image (sum over pixels, mean over images). The log-weights computed here are
the same ones :func:`vae_teach.evaluate.iwae_log_likelihood` accumulates over k = 5000 samples.
A model with its own latent structure (the two-layer VAE of :mod:`vae_teach.hierarchical`) brings
its own ``log_weights(x, k, generator)``; :func:`log_weights` uses it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .kl import gaussian_log_density, kl_diag_gaussians
from .losses import LossTerms, Recon, _float32, check_reduction, _over_images, reconstruction
from .validate import integer, real_number


class LogWeights(NamedTuple):
    """``log_w`` = log p(x, z_i) - log q(z_i|x) and its part ``log_px`` = log p(x|z_i), each ``[k, N]``."""

    log_w: torch.Tensor
    log_px: torch.Tensor


def gaussian_log_weights(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor,
                         prior_mu: float = 0.0, prior_logvar: float = 0.0) -> LogWeights:
    """Log-weights of a one-layer VAE for given noise: z = mu + exp(logvar / 2) * eps, ``eps`` ``[k, N, D]``.

    log w = log p(x|z) + log N(z; prior_mu, exp(prior_logvar)) - log N(z; mu, exp(logvar)), each ``[k, N]``;
    log p(x|z) is the decoder's own likelihood (minus the "auto" reconstruction term).
    """
    mu, logvar = _float32(mu), _float32(logvar)
    c, b = eps.shape[0], x.shape[0]
    z = mu + (0.5 * logvar).exp() * eps                       # [c, b, D]
    log_q = gaussian_log_density(z, mu, logvar)                # [c, b]
    pm = torch.as_tensor(prior_mu, dtype=z.dtype)
    pl = torch.as_tensor(prior_logvar, dtype=z.dtype)
    log_pz = gaussian_log_density(z, pm.expand_as(z), pl.expand_as(z))
    params = _float32(model.decode(z.reshape(c * b, -1)))
    x_rep = x.unsqueeze(0).expand(c, *x.shape).reshape(c * b, *x.shape[1:])
    log_px = -reconstruction(model, x_rep, params, "auto", reduction="none").view(c, b)
    return LogWeights(log_px + log_pz - log_q, log_px)


def log_weights(model, x: torch.Tensor, k: int, *, prior_mu: float = 0.0, prior_logvar: float = 0.0,
                generator: torch.Generator | None = None) -> LogWeights:
    """k reparameterized log-weights per image, ``[k, N]`` (with gradients unless under no_grad).

    The noise is drawn on the CPU from ``generator`` (the same numbers on every device).
    """
    k = integer("k", k, minimum=1)
    if hasattr(model, "log_weights"):
        if not all(isinstance(v, (int, float)) and v == 0.0 for v in (prior_mu, prior_logvar)):
            raise ValueError(f"{type(model).__name__} has its own prior; prior_mu / prior_logvar must stay 0")
        return model.log_weights(x, k, generator=generator)
    if not hasattr(model, "to_mu"):
        raise TypeError("the IWAE bound needs a VAE (an encoder that outputs q(z|x)); got an autoencoder")
    mu, logvar = model.encode(x)
    eps = torch.randn((k, *mu.shape), generator=generator).to(mu.device)
    return gaussian_log_weights(model, x, mu, logvar, eps, prior_mu, prior_logvar)


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/k) sum_i exp(log_w_i) along ``dim``, computed stably as logsumexp - log k."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def iwae_bound(model, x: torch.Tensor, k: int, *, prior_mu: float = 0.0, prior_logvar: float = 0.0,
               generator: torch.Generator | None = None, reduction: str = "mean") -> torch.Tensor:
    """A k-sample estimate of L_k(x) in nats: per image ``[N]`` ("none"), or its mean / sum over images."""
    check_reduction(reduction)
    lw = log_weights(model, x, k, prior_mu=prior_mu, prior_logvar=prior_logvar, generator=generator)
    return _over_images(log_mean_exp(lw.log_w), reduction)


@dataclass(frozen=True)
class IWAE:
    """Train on -L_k (``fit(model, x, objective=IWAE(k=5))``). k = 1 is the VAE with the Monte Carlo KL.

    The History's ``train_loss`` is -L_k; ``train_recon`` the mean over the k samples of
    -log p(x|z_i), ``train_kl`` that of log q(z_i|x) - log p(z_i) (Monte Carlo), so ``train_nelbo`` is
    the k-sample estimate of the true negative ELBO. Needs beta = 1 and the decoder's own likelihood.

    ``warmup_epochs=E`` (chapter 13, after chapter 12's KL warm-up): for the first E epochs every
    log-weight is annealed, log w_t = log p(x|z) + beta_t (log p(z) - log q(z|x)) with beta_t rising
    linearly from 0 to 1 (:func:`vae_teach.objectives.warmup_beta`); from then on it is exactly -L_k.
    """

    k: int = 5
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        integer("IWAE.k", self.k, minimum=1)
        integer("IWAE.warmup_epochs", self.warmup_epochs, minimum=0)

    def to_dict(self) -> dict:
        return {"kind": "iwae", "k": self.k, **({"warmup_epochs": self.warmup_epochs} if self.warmup_epochs else {})}

    def train_terms(self, model, x: torch.Tensor, *, step: int, steps_per_epoch: int, recon: Recon = "auto",
                    beta: float = 1.0, prior_mu=0.0, prior_logvar=0.0) -> LossTerms:
        """(-L_k, recon, kl) of one batch, nats per image (mean over images); recon and kl are the true terms."""
        if real_number("beta", beta, minimum=0.0) != 1.0:
            raise ValueError(f"the IWAE bound has no KL weight; train it with beta=1, got beta={beta}")
        if recon != "auto":
            raise ValueError(f"the IWAE bound needs the decoder's own likelihood (recon='auto'), got recon={recon!r}")
        lw = log_weights(model, x, self.k, prior_mu=prior_mu, prior_logvar=prior_logvar)
        rec = -lw.log_px.mean()
        log_w = lw.log_w
        if self.warmup_epochs:
            from .objectives import warmup_beta  # objectives imports this module
            beta_t = warmup_beta(step, self.warmup_epochs * integer("steps_per_epoch", steps_per_epoch, minimum=1))
            log_w = lw.log_px + beta_t * (lw.log_w - lw.log_px)
        return LossTerms(-log_mean_exp(log_w).mean(), rec, -lw.log_w.mean() - rec)


# ----------------------------------------------------------------------------------------------
# The amortization gap (Cremer, Li & Duvenaud, 2018; chapter 13)
# ----------------------------------------------------------------------------------------------
def posterior_elbo(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, n_samples: int = 100,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """ELBO(x; q) per image ``[N]`` for a given diagonal Gaussian q = N(mu, exp(logvar)), prior N(0, I):

    ELBO = E_q[log p(x|z)] - KL(q || p(z)), the expectation over ``n_samples`` draws, the KL in closed form.
    """
    n_samples = integer("n_samples", n_samples, minimum=1)
    eps = torch.randn((n_samples, *mu.shape), generator=generator).to(mu.device)
    lw = gaussian_log_weights(model, x, mu, logvar, eps)
    return lw.log_px.mean(0) - kl_diag_gaussians(mu, logvar)


def optimize_posterior(model, x: torch.Tensor, *, steps: int = 300, lr: float = 0.01, n_samples: int = 1,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit q(z|x_n) = N(mu_n, exp(logvar_n)) to each image separately, the decoder fixed: ``(mu, logvar)`` ``[N, D]``.

    Starts from the encoder's output and takes ``steps`` Adam steps on the negative ELBO (reparameterized,
    ``n_samples`` draws per image and step). The encoder's ELBO and the optimized one differ by the
    amortization gap: how much the shared encoder loses against the best Gaussian for each x.
    The model's parameters are not changed and receive no gradient.
    """
    steps = integer("steps", steps, minimum=0)
    n_samples = integer("n_samples", n_samples, minimum=1)
    real_number("lr", lr, minimum=0.0, strict=True)
    if not hasattr(model, "to_mu"):
        raise TypeError(f"optimize_posterior needs a one-layer VAE; got {type(model).__name__}")
    was = model.training
    model.eval()
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            mu0, lv0 = model.encode(x)
        mu, logvar = mu0.clone().requires_grad_(True), lv0.clone().requires_grad_(True)
        opt = torch.optim.Adam([mu, logvar], lr=lr)
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = -posterior_elbo(model, x, mu, logvar, n_samples=n_samples, generator=g).sum()
            loss.backward()
            opt.step()
    finally:
        for p, r in zip(model.parameters(), frozen):
            p.requires_grad_(r)
        model.train(was)
    return mu.detach(), logvar.detach()


# ----------------------------------------------------------------------------------------------
# All k log-weights of each image (chapter 13: L_k for every k <= K, effective sample size)
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def log_weight_matrix(model, images: torch.Tensor, k: int, *, batch_size: int = 100, max_rows: int = 50_000,
                      seed: int = 0) -> torch.Tensor:
    """The k log-weights log w_i = log p(x, z_i) - log q(z_i|x) of every image, ``[k, N]`` in nats (float32).

    The noise is drawn exactly as :func:`vae_teach.evaluate.iwae_log_likelihood` draws it (same ``seed``,
    ``batch_size`` and ``max_rows``: the same z_i), so ``log_mean_exp(log_weight_matrix(...))`` is that
    function's L_k(x). Keeping the weights lets one set of K samples give, per image,

        L_k(x) ~= (k / K) sum_{g = 1..K/k} log (1/k) sum_{i in group g} w_i    (K/k disjoint groups of k),

    an unbiased estimate of L_k for every k dividing K, and the normalized weights w_i / sum_j w_j.
    """
    from . import data as _data
    from .precision import model_device

    own = hasattr(model, "log_weights")
    if not (own or hasattr(model, "to_mu")):
        raise TypeError("the IWAE bound needs a VAE (an encoder that outputs q(z|x)); got an autoencoder")
    k = integer("k", k, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=1)
    model.eval()
    dev = model_device(model)
    g = torch.Generator().manual_seed(seed)
    cols = []
    for xb in _data.batches(images, batch_size, shuffle=False):
        xb = xb.to(dev)
        b = xb.shape[0]
        if not own:
            mu, logvar = model.encode(xb)
        chunk = max(1, min(k, max_rows // b))
        rows, done = [], 0
        while done < k:
            c = min(chunk, k - done)
            if own:
                lw = log_weights(model, xb, c, generator=g).log_w
            else:
                eps = torch.randn((c, *mu.shape), generator=g).to(dev)
                lw = gaussian_log_weights(model, xb, mu, logvar, eps).log_w
            rows.append(lw.float().cpu())
            done += c
        cols.append(torch.cat(rows, dim=0))
    return torch.cat(cols, dim=1)


def grouped_bound(log_w: torch.Tensor, k: int) -> torch.Tensor:
    """Per image ``[N]``: the mean over the K/k disjoint groups of k rows of ``log_w`` ``[K, N]`` of
    log (1/k) sum_{i in group} w_i, an unbiased estimate of L_k(x) from K samples (k must divide K)."""
    big_k = log_w.shape[0]
    k = integer("k", k, minimum=1)
    if big_k % k:
        raise ValueError(f"k = {k} must divide the number of log-weights K = {big_k}")
    return log_mean_exp(log_w.double().reshape(big_k // k, k, -1), dim=1).mean(0)


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    """Per image ``[N]``: ESS = 1 / sum_i w~_i^2 = (sum_i w_i)^2 / sum_i w_i^2, w~ = softmax(log_w) over dim 0.

    Between 1 (one weight carries everything) and k (all weights equal); chapter 13."""
    w = torch.softmax(log_w.double(), dim=0)
    return 1.0 / (w ** 2).sum(0)
