"""Chapter 5 exercises (a VAE on MNIST): the KL from N(0, I) and the VAE loss."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import kl as _kl
from .common import HALF, KL_SIGN, LOG_SIGMA, MEAN_LATENT, MEAN_PIXELS, gen, m, rand, randn
from .core import Mistake, Task, register


def cases_latent() -> list[tuple]:
    g = gen(6)
    return [(randn(g, 5, 4), randn(g, 5, 4), randn(g, 5, 4) * 0.7)]


def _cases_vae_loss() -> list[tuple]:
    g = gen(14)
    return [(randn(g, 4, 1, 28, 28) * 2.0, rand(g, 4, 1, 28, 28), randn(g, 4, 3), randn(g, 4, 3) * 0.6)]


def _vae_loss(logits, x, mu, logvar, rec_reduce="sum", kl_fn=None, batch_reduce="mean"):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    rec = rec.sum(1) if rec_reduce == "sum" else rec.mean(1)
    kl = (kl_fn or _kl.kl_diag_gaussians)(mu, logvar)
    red = torch.mean if batch_reduce == "mean" else torch.sum
    return red(rec + kl), red(rec), red(kl)


def _kl_std_variants(mu, logvar, *, sign=1.0, half=0.5, logvar_as_log_sigma=False, reduce="sum"):
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    per_dim = sign * half * (lv.exp() + mu ** 2 - 1.0 - lv)
    return per_dim.sum(1) if reduce == "sum" else per_dim.mean(1)


register(Task(
    "kl_standard_normal", 5, "function", lambda mu, lv: _kl.kl_diag_gaussians(mu, lv),
    "a tensor of shape [N]: KL(q(z|x) || N(0, I)) in nats, summed over the D latent dimensions",
    [m(KL_SIGN, lambda mu, lv: _kl_std_variants(mu, lv, sign=-1.0)),
     m(HALF, lambda mu, lv: _kl_std_variants(mu, lv, half=1.0)),
     m(MEAN_LATENT, lambda mu, lv: _kl_std_variants(mu, lv, reduce="mean")),
     m(LOG_SIGMA, lambda mu, lv: _kl_std_variants(mu, lv, logvar_as_log_sigma=True))],
    lambda: [c[1:] for c in cases_latent()], args=("mu", "logvar"), grad=("mu", "logvar"),
    bounds=((0.0, math.inf, "a KL divergence"),),
    terms=lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1.0 - lv), reduce={-1: "sum"}, dims=("N", "D"),
    reread="Re-read the task: 1/2 (mu^2 + exp(logvar) - 1 - logvar), summed over the D latent dimensions."))
register(Task(
    "vae_loss", 5, "function", _vae_loss,
    "a tuple (loss, recon, kl) of scalar tensors in nats per image (mean over images)",
    [m(MEAN_PIXELS, lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, rec_reduce="mean")),
     m(KL_SIGN, lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, kl_fn=lambda a, b: _kl_std_variants(a, b, sign=-1.0))),
     m(MEAN_LATENT, lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv,
                                                    kl_fn=lambda a, b: _kl_std_variants(a, b, reduce="mean"))),
     Mistake("sum over the images instead of the mean", "report nats per image: sum over pixels and "
             "latent dimensions, then .mean() over the batch.",
             lambda lg, x, mu, lv: _vae_loss(lg, x, mu, lv, batch_reduce="sum"))],
    _cases_vae_loss, args=("logits", "x", "mu", "logvar"), returns=("tensor", "tensor", "tensor"),
    outputs=("loss", "recon", "kl"), grad=("logits", "mu", "logvar"),
    bounds=((0.0, math.inf, "a negative ELBO with a Bernoulli decoder"), (0.0, math.inf, "a binary cross-entropy"),
            (0.0, math.inf, "a KL divergence")), dims=("N", "pixels", "pixels", "pixels"),
    reread="Re-read the task: recon = BCE with logits summed over the pixels, kl summed over the latent "
           "dimensions, loss = recon + kl, each a mean over the images."))
