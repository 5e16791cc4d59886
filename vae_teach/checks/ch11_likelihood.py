"""Chapter 11 exercises (the importance-weighted bound): log importance weights, the IWAE bound."""
from __future__ import annotations

import math

import torch

from .common import LOG_SIGMA, gen, log_normal, m, randn
from .core import Mistake, Task, register


def _cases_log_w() -> list[tuple]:
    g = gen(22)
    k, n, d = 6, 4, 3
    mu, logvar = randn(g, n, d), randn(g, n, d) * 0.5
    z = mu + (0.5 * logvar).exp() * randn(g, k, n, d)
    return [(randn(g, k, n) - 100.0, z, mu, logvar)]


def _log_w(log_px_z, z, mu, logvar, *, q_sign=-1.0, prior=True, logvar_as_log_sigma=False):
    lv = 2 * logvar if logvar_as_log_sigma else logvar
    log_q = log_normal(z, mu, lv).sum(-1)
    log_p = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(-1) if prior else 0.0
    return log_px_z + log_p + q_sign * log_q


def _cases_iwae() -> list[tuple]:
    g = gen(23)
    return [(randn(g, 8, 5) * 3.0 - 800.0,)]


def _iwae(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


register(Task(
    "log_importance_weights", 11, "function", _log_w,
    "a tensor of shape [k, N]: log p(x|z) + log p(z) - log q(z|x) in nats",
    [Mistake("the sign of log q(z|x) is flipped", "the importance weight is p(x, z) / q(z|x): "
             "subtract log q.", lambda a, z, mu, lv: _log_w(a, z, mu, lv, q_sign=1.0)),
     Mistake("the prior log p(z) is missing", "p(x, z) = p(x|z) p(z): add log N(z; 0, I) summed over "
             "the latent dimensions.", lambda a, z, mu, lv: _log_w(a, z, mu, lv, prior=False)),
     m(LOG_SIGMA, lambda a, z, mu, lv: _log_w(a, z, mu, lv, logvar_as_log_sigma=True))],
    _cases_log_w, args=("log_px_z", "z", "mu", "logvar"), grad=("log_px_z", "z", "mu", "logvar"),
    dims=("k", "N", "D"),
    reread="Re-read the task: log_px_z + log N(z; 0, I) - log N(z; mu, exp(logvar)), both log-densities "
           "summed over the D latent dimensions (dim -1)."))
register(Task(
    "iwae_bound", 11, "function", _iwae, "a tensor of shape [N]: L_k = log (1/k) sum_i exp(log_w_i) in nats per image",
    [Mistake("the mean of the log-weights (that is the ELBO, not L_k)", "L_k takes the log of the "
             "MEAN of the weights: torch.logsumexp(log_w, 0) - log k.", lambda lw: lw.mean(0)),
     Mistake("the - log k term is missing", "average the k weights: subtract math.log(k) after the "
             "logsumexp.", lambda lw: torch.logsumexp(lw, dim=0)),
     Mistake("log(mean(exp(log_w))) computed naively: it underflows", "exp(-800) is 0 in floating "
             "point, so the log gives -inf; use torch.logsumexp, which subtracts the maximum first.",
             lambda lw: torch.log(torch.exp(lw).mean(0))),
     Mistake("reduced over the images instead of the samples", "log_w is [k, N]: reduce over the k "
             "samples (dim 0), one bound per image.",
             lambda lw: torch.logsumexp(lw, dim=1) - math.log(lw.shape[1]))],
    _cases_iwae, args=("log_w",), grad=("log_w",), dims=("k", "N"),
    reread="Re-read the task: torch.logsumexp over the k samples (dim 0), minus log k."))
