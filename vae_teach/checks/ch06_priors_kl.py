"""Chapter 6 exercises (priors and the KL): the closed-form KL for a prior N(m, s^2), one KL by hand, a Monte Carlo KL."""
from __future__ import annotations

import math

import torch

from .. import kl as _kl
from .common import HALF, KL_SIGN, LOG_SIGMA, MEAN_LATENT, VAR_AS_STD, gen, log_normal, m, randn
from .core import Mistake, Task, register


def _cases_prior() -> list[tuple]:
    g = gen(12)
    return [(randn(g, 5, 3), randn(g, 5, 3) * 0.8, 1.0, 4.0)]  # D = 3, not 4 = prior_var


def _kl_prior(mu, logvar, prior_mu, prior_var):
    return _kl.kl_diag_gaussians(mu, logvar, prior_mu, math.log(prior_var))


def _cases_kl_mc() -> list[tuple]:
    g = gen(13)
    return [(randn(g, 3, 2), randn(g, 3, 2) * 0.5, 1.0, 4.0, randn(g, 50, 3, 2))]


def _mc_terms(mu, logvar, prior_mu, prior_var, eps, std_of=lambda lv: (0.5 * lv).exp(), sign=1.0):
    """log q(z) - log p(z) per sample, image and latent dimension: [S, N, D]."""
    z = mu + std_of(logvar) * eps
    pm = torch.full_like(mu, prior_mu)
    pl = torch.full_like(mu, math.log(prior_var))
    return sign * (log_normal(z, mu, logvar) - log_normal(z, pm, pl))


def _kl_mc(mu, logvar, prior_mu, prior_var, eps, std_of=lambda lv: (0.5 * lv).exp(), sign=1.0,
           reduce=torch.sum):
    return reduce(_mc_terms(mu, logvar, prior_mu, prior_var, eps, std_of, sign), dim=-1).mean(0)


def _kl_prior_variant(mu, logvar, prior_mu, prior_var, *, sign=1.0, half=0.5, var_is_std=False,
                      logvar_as_log_sigma=False, reduce="sum", divide_mean=True, log_s2=True):
    s2 = prior_var ** 2 if var_is_std else prior_var
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    sq = (mu - prior_mu) ** 2 / (s2 if divide_mean else 1.0)
    per_dim = sign * half * ((math.log(s2) if log_s2 else 0.0) - lv + lv.exp() / s2 + sq - 1.0)
    return per_dim.sum(1) if reduce == "sum" else per_dim.mean(1)


def _kl_1d(m_q, v_q, m_p, v_p):
    return 0.5 * (math.log(v_p / v_q) + (v_q + (m_q - m_p) ** 2) / v_p - 1.0)


_PRIOR_MISTAKES = [
    m(KL_SIGN, lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, sign=-1.0)),
    m(HALF, lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, half=1.0)),
    m(LOG_SIGMA, lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, logvar_as_log_sigma=True)),
    m(MEAN_LATENT, lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, reduce="mean")),
    Mistake("the prior variance used as a standard deviation", "prior_var is s^2 (for N(1, 2^2) it is 4); "
            "do not square it again.", lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, var_is_std=True)),
    Mistake("(mu - m)^2 not divided by s^2", "the mean term is (mu - m)^2 / s^2, like the variance term "
            "sigma^2 / s^2.", lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, divide_mean=False)),
    Mistake("the log s^2 term is missing", "KL = 1/2 [log s^2 - log sigma^2 + (sigma^2 + (mu - m)^2) / s^2 - 1]; "
            "with s^2 != 1 the log s^2 term does not vanish.",
            lambda mu, lv, pm, v: _kl_prior_variant(mu, lv, pm, v, log_s2=False)),
]

register(Task(
    "kl_gaussian_prior", 6, "function", _kl_prior,
    "a tensor of shape [N]: KL(N(mu, sigma^2) || N(m, s^2)) in nats, summed over latent dims",
    _PRIOR_MISTAKES, _cases_prior, args=("mu", "logvar", "prior_mu", "prior_var"), grad=("mu", "logvar"),
    bounds=((0.0, math.inf, "a KL divergence"),),
    terms=lambda mu, lv, pm, v: 0.5 * (math.log(v) - lv + (lv.exp() + (mu - pm) ** 2) / v - 1.0),
    reduce={-1: "sum"}, dims=("N", "D"),
    reread="Re-read the task: 1/2 (log s^2 - logvar + (exp(logvar) + (mu - m)^2) / s^2 - 1), summed over the "
           "D latent dimensions, with s^2 = prior_var."))
register(Task(
    "kl_value", 6, "value", lambda: _kl_1d(0.0, 1.0, 1.0, 4.0), "a Python float: KL(N(0, 1) || N(1, 2^2)) in nats",
    [Mistake("N(1, 2^2) read as variance 2", "in this book N(m, s^2) lists the VARIANCE: N(1, 2^2) has "
             "standard deviation 2 and variance 4.", lambda: _kl_1d(0.0, 1.0, 1.0, 2.0)),
     Mistake("the KL is reversed", "KL(q || p) with q = N(0, 1) first; KL is not symmetric.",
             lambda: _kl_1d(1.0, 4.0, 0.0, 1.0)),
     Mistake("a missing 1/2", HALF[1], lambda: 2 * _kl_1d(0.0, 1.0, 1.0, 4.0))],
    atol=5e-4, rtol=0.0, returns=("float",),
    reread="Re-read the task: Task 6.1's formula for D = 1, with q = N(0, 1) and the prior's variance s^2 = 4."))
register(Task(
    "kl_monte_carlo", 6, "function", _kl_mc,
    "a tensor of shape [N]: the Monte Carlo KL in nats (sum over latent dims, mean over samples)",
    [m(KL_SIGN, lambda mu, lv, pm, v, eps: _kl_mc(mu, lv, pm, v, eps, sign=-1.0)),
     Mistake("reparameterizing with the variance instead of the standard deviation", VAR_AS_STD[1],
             lambda mu, lv, pm, v, eps: _kl_mc(mu, lv, pm, v, eps, std_of=lambda t: t.exp())),
     m(MEAN_LATENT, lambda mu, lv, pm, v, eps: _kl_mc(mu, lv, pm, v, eps, reduce=torch.mean))],
    _cases_kl_mc, args=("mu", "logvar", "prior_mu", "prior_var", "eps"), grad=("mu", "logvar"),
    terms=_mc_terms, reduce={-1: "sum", -3: "mean"}, dims=("S", "N", "D"),
    reread="Re-read the task: z = mu + exp(logvar / 2) * eps; log q(z) - log p(z), each summed over the D "
           "latent dimensions, averaged over the S samples (dim 0)."))
