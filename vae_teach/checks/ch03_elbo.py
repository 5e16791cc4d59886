"""Chapter 3 exercises (the ELBO): a diagonal Gaussian's log-density, a Bernoulli log-likelihood, a Monte Carlo ELBO."""
from __future__ import annotations

import math

import torch.nn.functional as F

from .. import kl as _kl
from .. import losses as _losses
from .common import (HALF, IMAGE_DIMS, LOG2PI, LOG_SIGMA, MEAN_LATENT, MEAN_PIXELS, SUM_PIXELS, gen, log_normal,
                     m, rand, randn)
from .core import Mistake, Task, register


def _cases_latent() -> list[tuple]:
    g = gen(6)
    return [(randn(g, 5, 4), randn(g, 5, 4), randn(g, 5, 4) * 0.7)]


def _cases_log_density() -> list[tuple]:
    """[N, D] inputs, then the try-it cell's 3-D use: z [S, N, D] with mu, logvar [S, N, D] or [N, D]."""
    g = gen(24)
    mu, logvar = randn(g, 5, 3), randn(g, 5, 3) * 0.7
    return _cases_latent() + [(randn(g, 2, 5, 3), randn(g, 2, 5, 3), randn(g, 2, 5, 3) * 0.7),
                              (randn(g, 2, 5, 3), mu, logvar)]


def _cases_logits() -> list[tuple]:
    g = gen(7)
    return [(randn(g, 4, 1, 28, 28) * 2.0, (rand(g, 4, 1, 28, 28) > 0.6).double())]


def _bern_ll(logits, x):
    return -_losses.bce(logits, x, reduction="none")


def _cases_elbo_terms() -> list[tuple]:
    g = gen(8)
    return [(randn(g, 7, 5) - 90.0, randn(g, 7, 5) - 3.0, randn(g, 7, 5) * 0.5 - 1.0)]


register(Task(
    "gaussian_log_density", 3, "function", _kl.gaussian_log_density,
    "a tensor shaped like z without its last dimension ([N] for [N, D] inputs, [S, N] for z of shape "
    "[S, N, D]): log N(z; mu, diag(exp(logvar))) in nats, summed over the D dimensions",
    [m(HALF, lambda z, mu, lv: -(LOG2PI + lv + (z - mu) ** 2 / lv.exp()).sum(-1)),
     m(LOG_SIGMA, lambda z, mu, lv: log_normal(z, mu, 2 * lv).sum(-1)),
     m(MEAN_LATENT, lambda z, mu, lv: log_normal(z, mu, lv).mean(-1)),
     Mistake("the log 2 pi constant is missing", "the normaliser of a Gaussian contributes "
             "-1/2 log(2 pi) per dimension; it matters for likelihoods.",
             lambda z, mu, lv: -0.5 * (lv + (z - mu) ** 2 / lv.exp()).sum(-1)),
     Mistake("the sign is flipped", "a log-density is -1/2 (log 2 pi sigma^2 + (z - mu)^2 / sigma^2); "
             "you returned the negative log-density.",
             lambda z, mu, lv: -log_normal(z, mu, lv).sum(-1))],
    _cases_log_density, args=("z", "mu", "logvar"), grad=("z", "mu", "logvar"),
    terms=lambda z, mu, lv: log_normal(z, mu, lv), reduce={-1: "sum"}, dims=("S", "N", "D"),
    reread="Re-read the task: -1/2 (log 2 pi + logvar + (z - mu)^2 / exp(logvar)), summed over the last "
           "dimension (dim=-1), which also works for z of shape [S, N, D]."))
register(Task(
    "bernoulli_log_likelihood", 3, "function", _bern_ll,
    "a tensor of shape [N]: log p(x|z) in nats per image, summed over pixels",
    [Mistake("the sign is flipped (this is the BCE)", "log p(x|z) = -BCE: a log-likelihood of "
             "784 binary pixels is negative.", lambda lg, x: _losses.bce(lg, x, reduction="none")),
     m(MEAN_PIXELS, lambda lg, x: -F.binary_cross_entropy_with_logits(lg, x, reduction="none").flatten(1).mean(1)),
     Mistake("the (1 - x) log(1 - p) term is missing", "a Bernoulli pixel contributes "
             "x log p + (1 - x) log(1 - p); both terms count.",
             lambda lg, x: (x * F.logsigmoid(lg)).flatten(1).sum(1))],
    _cases_logits, args=("logits", "x"), grad=("logits",),
    bounds=((-math.inf, 0.0, "the log-likelihood of binary pixels"),),
    terms=lambda lg, x: -F.binary_cross_entropy_with_logits(lg, x, reduction="none"), reduce=SUM_PIXELS,
    dims=IMAGE_DIMS,
    reread="Re-read the task: x log p + (1 - x) log(1 - p) with p = sigmoid(logits), summed over the pixels "
           "of each image."))
register(Task(
    "elbo_estimate", 3, "function", lambda lpx, lpz, lqz: (lpx + lpz - lqz).mean(0),
    "a tensor of shape [N]: the Monte Carlo ELBO per image in nats (mean over the S samples)",
    [Mistake("the sign of log q(z|x) is flipped (the KL part)", "ELBO = E_q[log p(x|z) + log p(z) "
             "- log q(z|x)]: log q enters with a minus sign (that makes -KL).",
             lambda lpx, lpz, lqz: (lpx + lpz + lqz).mean(0)),
     Mistake("sum over the samples instead of the mean", "a Monte Carlo estimate AVERAGES over the "
             "S samples (dim 0).", lambda lpx, lpz, lqz: (lpx + lpz - lqz).sum(0)),
     Mistake("the negative ELBO", "return the ELBO itself (a lower bound on log p(x), negative here), "
             "not the loss -ELBO.", lambda lpx, lpz, lqz: -(lpx + lpz - lqz).mean(0)),
     Mistake("averaged over the wrong dimension", "the inputs are [S, N]: average over the samples "
             "(dim 0) and keep one value per image.",
             lambda lpx, lpz, lqz: (lpx + lpz - lqz).mean(1))],
    _cases_elbo_terms, args=("log_px_z", "log_pz", "log_qz"), grad=("log_px_z", "log_pz", "log_qz"),
    terms=lambda lpx, lpz, lqz: lpx + lpz - lqz, reduce={-2: "mean"}, dims=("S", "N"),
    reread="Re-read the task: log_px_z + log_pz - log_qz, averaged over the S samples (dim 0)."))
