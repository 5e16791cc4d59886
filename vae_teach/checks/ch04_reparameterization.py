"""Chapter 4 exercises (the reparameterization trick): sigma from logvar, ``reparameterize``, a pathwise gradient."""
from __future__ import annotations

import math

import torch

from .common import VAR_AS_STD, gen, m, randn
from .core import Mistake, Task, register


def _cases_logvar() -> list[tuple]:
    g = gen(9)
    return [(randn(g, 6, 3) * 1.5,)]


def _cases_reparam() -> list[tuple]:
    g = gen(10)
    return [(randn(g, 5, 3), randn(g, 5, 3) * 1.2, randn(g, 5, 3))]


def _cases_reparam_grad() -> list[tuple]:
    g = gen(11)
    return [(randn(g, 4, 3), randn(g, 4, 3) * 0.8, randn(g, 10, 4, 3))]


def _objective(z: torch.Tensor) -> torch.Tensor:
    """f(z) used by the gradient task: sum over latent dims of (z - 1)^2 (per sample, per image)."""
    return ((z - 1.0) ** 2).sum(-1)


def _reparam_grad(mu, logvar, eps, std_of=lambda lv: (0.5 * lv).exp(), reduce="sum"):
    mu = mu.detach().clone().requires_grad_(True)
    logvar = logvar.detach().clone().requires_grad_(True)
    z = mu + std_of(logvar) * eps
    per_image = _objective(z).mean(0)
    total = per_image.sum() if reduce == "sum" else per_image.mean()
    gm, gl = torch.autograd.grad(total, (mu, logvar))
    return gm, gl


register(Task(
    "std_from_logvar", 4, "function", lambda lv: (0.5 * lv).exp(),
    "a tensor shaped like logvar: sigma = exp(logvar / 2)",
    [m(VAR_AS_STD, lambda lv: lv.exp()),
     Mistake("the exp is missing", "logvar is a logarithm: sigma = exp(logvar / 2).",
             lambda lv: 0.5 * lv),
     Mistake("the sign of the exponent is flipped", "sigma = exp(+logvar / 2); exp(-logvar / 2) is 1 / sigma.",
             lambda lv: (-0.5 * lv).exp())],
    _cases_logvar, args=("logvar",), grad=("logvar",), bounds=((0.0, math.inf, "a standard deviation"),),
    reread="Re-read the task: element by element, sigma = exp(logvar / 2), because logvar = log sigma^2."))
register(Task(
    "reparameterize", 4, "function", lambda mu, lv, eps: mu + (0.5 * lv).exp() * eps,
    "a tensor of shape [N, D] that keeps the autograd graph: z = mu + sigma * eps",
    [Mistake("reparameterizing with the variance instead of the standard deviation",
             VAR_AS_STD[1], lambda mu, lv, eps: mu + lv.exp() * eps),
     Mistake("logvar used directly as sigma", "logvar is log sigma^2: take exp(0.5 * logvar) first.",
             lambda mu, lv, eps: mu + lv * eps),
     Mistake("the noise is missing", "z must be random: z = mu + sigma * eps, not mu.",
             lambda mu, lv, eps: mu.clone()),
     Mistake("the mean is missing", "shift the scaled noise by the mean: z = mu + sigma * eps.",
             lambda mu, lv, eps: (0.5 * lv).exp() * eps)],
    _cases_reparam, args=("mu", "logvar", "eps"), grad=("mu", "logvar"),
    reread="Re-read the task: z = mu + exp(logvar / 2) * eps, element by element, with the eps you are given."))
register(Task(
    "reparam_gradient", 4, "function", _reparam_grad,
    "a tuple (grad_mu [N, D], grad_logvar [N, D]) of tensors",
    [Mistake("reparameterizing with the variance instead of the standard deviation", VAR_AS_STD[1],
             lambda mu, lv, eps: _reparam_grad(mu, lv, eps, std_of=lambda t: t.exp())),
     Mistake("mean over images instead of sum", "the objective is the SUM over images of the "
             "per-image Monte Carlo average (mean over samples only), so each image's gradient is its own.",
             lambda mu, lv, eps: _reparam_grad(mu, lv, eps, reduce="mean")),
     Mistake("z was detached (gradients are zero)", "build z from mu and logvar with requires_grad "
             "set, and do not call .detach() or wrap it in torch.no_grad().",
             lambda mu, lv, eps: (torch.zeros_like(mu), torch.zeros_like(lv)))],
    _cases_reparam_grad, args=("mu", "logvar", "eps"), returns=("tensor", "tensor"),
    outputs=("grad_mu", "grad_logvar"), dims=("S", "N", "D"),
    reread="Re-read the task: J = sum over images of the mean over the S samples of sum_d (z_d - 1)^2, "
           "differentiated with respect to mu and logvar."))
