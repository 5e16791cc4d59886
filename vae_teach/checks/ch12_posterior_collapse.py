"""Chapter 12 exercises (posterior collapse): the rate of each latent unit, the free-bits KL of a
minibatch, and the KL warm-up schedule."""
from __future__ import annotations

import torch

from .. import objectives as _objectives
from ..kl import kl_per_dimension
from .common import HALF, KL_SIGN, LOG_SIGMA, gen, m, randn
from .core import Mistake, Task, register


def _cases_rates() -> list[tuple]:
    g = gen(121)
    # 7 images, 5 units; unit 3 at the prior for every image (rate exactly 0), the others not
    mu, logvar = randn(g, 7, 5) * 1.3, randn(g, 7, 5) * 0.8 - 0.5
    mu[:, 3], logvar[:, 3] = 0.0, 0.0
    return [(mu, logvar)]


def _rates(mu, logvar):
    return kl_per_dimension(mu, logvar).mean(dim=0)


def _rate_terms(mu, logvar):
    return kl_per_dimension(mu, logvar)


def _rates_variant(mu, logvar, half=0.5, log_sigma=False, sign=1.0):
    var = (2 * logvar).exp() if log_sigma else logvar.exp()
    lv = 2 * logvar if log_sigma else logvar
    return sign * half * (mu ** 2 + var - 1 - lv).mean(dim=0)


def _cases_free_bits() -> list[tuple]:
    g = gen(122)
    # 6 images, 5 units. Column means: two units below lambda = 0.5 (one with single images above it),
    # three above it (one with single images below it), so per-image and per-batch clamping differ.
    kl = randn(g, 6, 5).abs()
    kl[:, 0] = torch.tensor([0.05, 0.9, 0.1, 0.0, 0.2, 0.05], dtype=torch.float64)   # mean 0.2167
    kl[:, 1] = torch.tensor([0.01, 0.02, 0.03, 0.1, 0.04, 0.06], dtype=torch.float64)  # mean 0.0433
    kl[:, 2] = torch.tensor([2.0, 0.1, 1.5, 0.3, 3.0, 0.2], dtype=torch.float64)     # mean 1.1833
    kl[:, 3] = kl[:, 3] + 1.0
    kl[:, 4] = kl[:, 4] * 3.0 + 0.6
    # the third: every unit far below lambda, and their total too (a clamp of the total then differs)
    return [(kl, 0.5), (kl[:4, [0, 2, 4]] * 2.0, 0.75), (kl[:, :3] * 0.02, 0.25)]


def _free_bits(kl, lam):
    return _objectives.free_bits_kl(kl, lam)


def _cases_warmup() -> list[tuple]:
    return [(t, big_t) for big_t in (10, 4690) for t in (0, 1, 3, big_t - 1, big_t, big_t + 1, 3 * big_t)]


def _warmup(step, warmup_steps):
    return float(_objectives.warmup_beta(step, warmup_steps))


register(Task(
    "unit_rates", 12, "function", _rates,
    "a tensor of shape [D]: the rate of each latent unit, the mean over the N images of "
    "KL(q(z_j|x) || N(0, 1)), in nats",
    [Mistake("summed over the images instead of averaged", "a unit's rate is the MEAN over the images of its "
             "KL, so that the D rates add up to the KL term of the ELBO per image: .mean(dim=0).",
             lambda mu, lv: kl_per_dimension(mu, lv).sum(dim=0)),
     m(HALF, lambda mu, lv: _rates_variant(mu, lv, half=1.0)),
     m(LOG_SIGMA, lambda mu, lv: _rates_variant(mu, lv, log_sigma=True)),
     m(KL_SIGN, lambda mu, lv: _rates_variant(mu, lv, sign=-1.0)),
     Mistake("the variance of the posterior means over the images (the active-units statistic), not the rate",
             "Var_x(mu_j) is what Burda et al.'s active-units test thresholds; the rate is the mean over the "
             "images of 1/2 (mu^2 + sigma^2 - 1 - log sigma^2), which also counts the posterior variances.",
             lambda mu, lv: mu.var(dim=0))],
    _cases_rates, args=("mu", "logvar"), grad=("mu", "logvar"),
    terms=_rate_terms, reduce={-2: "mean"}, dims=("N", "D"),
    reread="Re-read the task: 0.5 * (mu^2 + exp(logvar) - 1 - logvar), averaged over the images (dim 0), one "
           "rate per latent unit."))
register(Task(
    "free_bits_kl", 12, "function", _free_bits,
    "a 0-d tensor: sum over the D units of max(KL_j, lambda), with KL_j the minibatch mean of kl[:, j], in nats",
    [Mistake("the clamp at lambda left out (the plain KL)", "free bits replaces each unit's minibatch-mean KL_j "
             "by max(KL_j, lambda): .clamp(min=lam) before the sum over the units.",
             lambda kl, lam: kl.mean(dim=0).sum()),
     Mistake("each image's KL clamped before the minibatch mean (free bits per example)", "Kingma et al. clamp "
             "the minibatch AVERAGE of each unit's KL: kl.mean(dim=0).clamp(min=lam).sum(). Clamping each image "
             "first gives every image lambda nats for free, and the units pay for less than they use.",
             lambda kl, lam: kl.clamp(min=lam).mean(dim=0).sum()),
     Mistake("summed over the minibatch instead of averaged", "KL_j is the MEAN over the minibatch: with a sum the "
             "clamp at lambda almost never bites and the result grows with the batch size.",
             lambda kl, lam: kl.sum(dim=0).clamp(min=lam).sum()),
     Mistake("the total KL clamped instead of each unit's", "free bits is a floor per latent unit: "
             "sum_j max(KL_j, lambda), not max(sum_j KL_j, lambda).",
             lambda kl, lam: kl.mean(dim=0).sum().clamp(min=lam)),
     Mistake("min instead of max (the KL capped at lambda)", "a unit's term is max(KL_j, lambda): lambda is a "
             "floor (.clamp(min=lam)), not a ceiling.", lambda kl, lam: kl.mean(dim=0).clamp(max=lam).sum()),
     Mistake("lambda subtracted (a hinge max(KL_j - lambda, 0)) instead of a floor", "the term is "
             "max(KL_j, lambda): a unit below lambda costs lambda, one above it costs its full KL_j.",
             lambda kl, lam: (kl.mean(dim=0) - lam).clamp(min=0).sum()),
     Mistake("averaged over the latent units instead of summed", "the KL of a diagonal Gaussian is a SUM over "
             "the units, and so is the free-bits term: .sum() over the D clamped values, not .mean().",
             lambda kl, lam: kl.mean(dim=0).clamp(min=lam).mean())],
    _cases_free_bits, args=("kl", "lam"), grad=("kl",),
    reread="Re-read the task: kl.mean(dim=0) (one KL per unit, averaged over the minibatch), clamped from below "
           "at lambda, summed over the units."))
register(Task(
    "warmup_beta", 12, "function", _warmup,
    "a Python float: beta_t = min(1, t / T) for step t = 0, 1, 2, ... and T warm-up steps",
    [Mistake("off by one: the ramp starts at 1/T instead of 0", "the first step is t = 0 and gets beta = 0: "
             "min(1, t / T), not min(1, (t + 1) / T).", lambda t, big_t: min(1.0, (t + 1) / big_t)),
     Mistake("the ramp is not capped at 1", "after the warm-up the objective is the ELBO again: beta stays at 1, "
             "min(1, t / T).", lambda t, big_t: t / big_t),
     Mistake("the ramp runs the wrong way (from 1 down to 0)", "warm-up starts with no KL term (beta = 0) and "
             "ends at beta = 1: min(1, t / T).", lambda t, big_t: max(0.0, 1.0 - t / big_t)),
     Mistake("integer division: beta is 0 until t = T", "t // T is 0 for every t < T; divide as floats, t / T.",
             lambda t, big_t: float(min(1, t // big_t)))],
    _cases_warmup, args=("step", "warmup_steps"), returns=("float",),
    reread="Re-read the task: min(1, t / T), 0 at t = 0, 1 from t = T on."))
