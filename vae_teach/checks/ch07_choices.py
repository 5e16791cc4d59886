"""Chapter 7 exercises (design choices): a Gaussian decoder's negative log-likelihood, active units."""
from __future__ import annotations

import torch

from .. import losses as _losses
from .common import HALF, IMAGE_DIMS, LOG2PI, LOG_SIGMA, MEAN_PIXELS, SUM_PIXELS, gen, m, rand, randn
from .core import Mistake, Task, register


def _cases_gauss_dec() -> list[tuple]:
    g = gen(15)
    return [(rand(g, 3, 1, 28, 28), rand(g, 3, 1, 28, 28), randn(g, 3, 1, 28, 28) * 0.5 - 2.0)]


def _gauss_terms(x, mean, logvar, *, half=0.5, log2pi=True, logvar_as_log_sigma=False):
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    return half * ((LOG2PI if log2pi else 0.0) + lv + (x - mean) ** 2 / lv.exp())


def _gauss_nll_variant(x, mean, logvar, *, reduce="sum", **kw):
    per = _gauss_terms(x, mean, logvar, **kw).flatten(1)
    return per.sum(1) if reduce == "sum" else per.mean(1)


def _cases_active() -> list[tuple]:
    g = gen(16)
    scales = torch.tensor([1.0, 0.5, 0.2, 0.05, 0.02, 0.005, 0.001, 0.0, 0.0, 0.0], dtype=torch.float64)
    return [(randn(g, 200, 10) * scales + torch.linspace(-1, 1, 10, dtype=torch.float64), 0.01)]


def _active(mu, threshold):
    return int((mu.var(dim=0) > threshold).sum())


register(Task(
    "gaussian_decoder_nll", 7, "function", lambda x, mean, lv: _losses.gaussian_nll(x, mean, lv, reduction="none"),
    "a tensor of shape [N]: -log N(x; mean, exp(logvar)) in nats per image, summed over pixels",
    [Mistake("plain squared error (the variance is ignored)", "a Gaussian decoder's NLL is "
             "1/2 sum(log 2 pi sigma^2 + (x - mean)^2 / sigma^2); sum((x - mean)^2) ignores the "
             "variance the decoder outputs.", lambda x, mean, lv: ((x - mean) ** 2).flatten(1).sum(1)),
     m(HALF, lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, half=1.0)),
     Mistake("the log 2 pi constant is missing", "each pixel adds 1/2 log(2 pi); without it the "
             "number is not a likelihood in nats.", lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, log2pi=False)),
     m(LOG_SIGMA, lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, logvar_as_log_sigma=True)),
     m(MEAN_PIXELS, lambda x, mean, lv: _gauss_nll_variant(x, mean, lv, reduce="mean"))],
    _cases_gauss_dec, args=("x", "mean", "logvar"), grad=("mean", "logvar"),
    terms=_gauss_terms, reduce=SUM_PIXELS, dims=IMAGE_DIMS,
    reread="Re-read the task: 1/2 (log 2 pi + logvar + (x - mean)^2 / exp(logvar)) per pixel, summed over "
           "the pixels of each image."))
register(Task(
    "count_active_units", 7, "function", _active,
    "a Python int: the number of latent units with Var_x(E_q[z_u|x]) > threshold",
    [Mistake("variance over the latent dimensions instead of over the data", "mu is [N, D]; a unit's "
             "activity is the variance of its column over the N images: mu.var(dim=0).",
             lambda mu, t: int((mu.var(dim=1) > t).sum())),
     Mistake("standard deviation instead of variance", "compare the VARIANCE of each unit's mean with "
             "the threshold (mu.var(dim=0)), not its standard deviation.",
             lambda mu, t: int((mu.std(dim=0) > t).sum())),
     Mistake("counted the inactive units", "count units whose variance is ABOVE the threshold.",
             lambda mu, t: int((mu.var(dim=0) <= t).sum()))],
    _cases_active, args=("mu", "threshold"), returns=("int",),
    reread="Re-read the task: the variance of each column of mu over the N images (dim 0), compared with "
           "the threshold, counted."))
