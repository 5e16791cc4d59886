"""Chapter 14 exercises (hierarchical VAEs): the Monte Carlo KL of the first stochastic layer against the
learned conditional prior p(z1|z2), the importance log-weight of the two-layer model, and ancestral
sampling z2 -> z1 -> x with given noise."""
from __future__ import annotations

import torch

from ..kl import gaussian_log_density, kl_diag_gaussians
from .common import HALF, KL_SIGN, LOG_SIGMA, MEAN_LATENT, VAR_AS_STD, gen, log_normal, m, rand, randn
from .core import Mistake, Task, register


def _lq(z, mu, logvar, half=0.5, log_sigma=False):
    """log N(z; mu, sigma^2) per element with the usual slips available."""
    var = (2 * logvar).exp() if log_sigma else logvar.exp()
    lv = 2 * logvar if log_sigma else logvar
    return -half * (torch.log(torch.tensor(2 * torch.pi, dtype=z.dtype)) + lv + (z - mu) ** 2 / var)


# ------------------------------------------------------------------ 14.1: the MC KL of layer 1

def _cases_kl_z1() -> list[tuple]:
    g = gen(141)
    out = []
    for n, d in ((6, 4), (3, 7)):
        mu1, logvar1 = randn(g, n, d), randn(g, n, d) * 0.6 - 0.4
        z1 = mu1 + (0.5 * logvar1).exp() * randn(g, n, d)
        pm, plv = randn(g, n, d) * 0.8, randn(g, n, d) * 0.5 + 0.2   # p(z1|z2): neither N(0, I) nor q
        out.append((z1, mu1, logvar1, pm, plv))
    return out


def _kl_z1(z1, mu1, logvar1, prior_mu1, prior_logvar1):
    return gaussian_log_density(z1, mu1, logvar1) - gaussian_log_density(z1, prior_mu1, prior_logvar1)


def _kl_z1_terms(z1, mu1, logvar1, prior_mu1, prior_logvar1):
    return log_normal(z1, mu1, logvar1) - log_normal(z1, prior_mu1, prior_logvar1)


def _kl_z1_variant(z1, mu1, lv1, pm, plv, **kw):
    return (_lq(z1, mu1, lv1, **kw) - _lq(z1, pm, plv, **kw)).sum(-1)


register(Task(
    "kl_z1_monte_carlo", 14, "function", _kl_z1,
    "a tensor of shape [N]: per image, the one-sample estimate log q(z1|x) - log p(z1|z2) at the given z1, "
    "summed over the latent units, in nats",
    [m(KL_SIGN, lambda z, mu, lv, pm, plv: -_kl_z1(z, mu, lv, pm, plv)),
     Mistake("the closed-form KL from N(0, I) (the one-layer VAE's prior), not from the learned p(z1|z2)",
             "in the two-layer model the prior of z1 is p(z1|z2) = N(prior_mu1, exp(prior_logvar1)), which depends "
             "on the sample z2: evaluate log q(z1|x) - log p(z1|z2) at z1, not KL(q(z1|x) || N(0, I)).",
             lambda z, mu, lv, pm, plv: kl_diag_gaussians(mu, lv)),
     Mistake("the closed-form KL(q(z1|x) || p(z1|z2)) of the two Gaussians instead of the Monte Carlo term",
             "z2 was drawn from q(z2|z1) with THIS z1, so p(z1|z2) depends on z1 and the closed form of a KL between "
             "two fixed Gaussians does not give E_q[log q(z1|x) - log p(z1|z2)]: evaluate both log-densities at the "
             "given z1.",
             lambda z, mu, lv, pm, plv: kl_diag_gaussians(mu, lv, pm, plv)),
     m(HALF, lambda z, mu, lv, pm, plv: _kl_z1_variant(z, mu, lv, pm, plv, half=1.0)),
     m(LOG_SIGMA, lambda z, mu, lv, pm, plv: _kl_z1_variant(z, mu, lv, pm, plv, log_sigma=True)),
     m(MEAN_LATENT, lambda z, mu, lv, pm, plv: _kl_z1_terms(z, mu, lv, pm, plv).mean(-1)),
     Mistake("the log-variance terms left out (only the squared distances kept)", "log N(z; mu, sigma^2) = "
             "-1/2 (log 2 pi + log sigma^2 + (z - mu)^2 / sigma^2): the log sigma^2 terms do not cancel between "
             "q(z1|x) and p(z1|z2), whose variances differ.",
             lambda z, mu, lv, pm, plv: (-0.5 * (z - mu) ** 2 / lv.exp() + 0.5 * (z - pm) ** 2 / plv.exp()).sum(-1))],
    _cases_kl_z1, args=("z1", "mu1", "logvar1", "prior_mu1", "prior_logvar1"),
    grad=("z1", "mu1", "logvar1", "prior_mu1", "prior_logvar1"),
    terms=_kl_z1_terms, reduce={-1: "sum"}, dims=("N", "D"),
    reread="Re-read the task: log N(z1; mu1, exp(logvar1)) - log N(z1; prior_mu1, exp(prior_logvar1)), each "
           "-1/2 (log 2 pi + logvar + (z1 - mean)^2 / exp(logvar)), summed over the units (dim -1)."))


# ------------------------------------------------------------ 14.2: the two-layer log-weight

def _cases_log_weight() -> list[tuple]:
    g = gen(142)
    out = []
    for n, d1, d2 in ((5, 4, 3), (2, 6, 2)):
        log_px = -rand(g, n) * 80 - 20
        mu1, lv1 = randn(g, n, d1), randn(g, n, d1) * 0.5 - 0.5
        z1 = mu1 + (0.5 * lv1).exp() * randn(g, n, d1)
        mu2, lv2 = randn(g, n, d2) * 0.7, randn(g, n, d2) * 0.5 - 0.3
        z2 = mu2 + (0.5 * lv2).exp() * randn(g, n, d2)
        pm1, plv1 = randn(g, n, d1) * 0.8, randn(g, n, d1) * 0.4 + 0.1
        out.append((log_px, z1, mu1, lv1, z2, mu2, lv2, pm1, plv1))
    return out


def _log_weight(log_px, z1, mu1, logvar1, z2, mu2, logvar2, prior_mu1, prior_logvar1):
    zero = torch.zeros_like(z2)
    return (log_px + gaussian_log_density(z1, prior_mu1, prior_logvar1) + gaussian_log_density(z2, zero, zero)
            - gaussian_log_density(z1, mu1, logvar1) - gaussian_log_density(z2, mu2, logvar2))


def _lw_variant(log_px, z1, mu1, lv1, z2, mu2, lv2, pm1, plv1, *, p2=True, q2=True, p1_standard=False, sign=1.0,
                half=0.5, log_sigma=False, reduce="sum"):
    red = (lambda t: t.sum(-1)) if reduce == "sum" else (lambda t: t.mean(-1))
    z0 = torch.zeros_like(z2)
    lp1 = _lq(z1, torch.zeros_like(z1), torch.zeros_like(z1), half, log_sigma) if p1_standard else _lq(
        z1, pm1, plv1, half, log_sigma)
    latent = red(lp1) - red(_lq(z1, mu1, lv1, half, log_sigma))
    if p2:
        latent = latent + red(_lq(z2, z0, z0, half, log_sigma))
    if q2:
        latent = latent - red(_lq(z2, mu2, lv2, half, log_sigma))
    return log_px + sign * latent


register(Task(
    "two_layer_log_weight", 14, "function", _log_weight,
    "a tensor of shape [N]: per image, log p(x|z1) + log p(z1|z2) + log N(z2; 0, I) - log q(z1|x) - log q(z2|z1), "
    "in nats",
    [Mistake("the top layer's prior log N(z2; 0, I) left out", "the joint of the generative model is "
             "p(z2) p(z1|z2) p(x|z1): its log has three terms, the top prior N(z2; 0, I) among them.",
             lambda *a: _lw_variant(*a, p2=False)),
     Mistake("the top layer's posterior log q(z2|z1) left out", "the proposal is q(z1|x) q(z2|z1): subtract both "
             "log-densities, the top layer's too (without it the weight is not p(x, z1, z2) / q(z1, z2|x)).",
             lambda *a: _lw_variant(*a, q2=False)),
     Mistake("N(0, I) used as the prior of z1 instead of p(z1|z2)", "in the two-layer model z1 has the learned "
             "conditional prior p(z1|z2) = N(prior_mu1, exp(prior_logvar1)); only z2 has the standard normal prior.",
             lambda *a: _lw_variant(*a, p1_standard=True)),
     Mistake("the latent terms' sign flipped (log q - log p)", "the log-weight is log p(x, z1, z2) - log q(z1, z2|x): "
             "the priors enter with +, the posteriors with -.", lambda *a: _lw_variant(*a, sign=-1.0)),
     m(HALF, lambda *a: _lw_variant(*a, half=1.0)),
     m(LOG_SIGMA, lambda *a: _lw_variant(*a, log_sigma=True)),
     m(MEAN_LATENT, lambda *a: _lw_variant(*a, reduce="mean"))],
    _cases_log_weight, args=("log_px", "z1", "mu1", "logvar1", "z2", "mu2", "logvar2", "prior_mu1", "prior_logvar1"),
    grad=("z1", "mu1", "logvar1", "z2", "mu2", "logvar2", "prior_mu1", "prior_logvar1"),
    reread="Re-read the task: five log-densities, each summed over its layer's units, the priors p(z1|z2) and "
           "N(z2; 0, I) with +, the posteriors q(z1|x) and q(z2|z1) with -, added to log p(x|z1)."))


# --------------------------------------------------------------- 14.3: ancestral sampling

def _net(seed: int, n_in: int, n_out: int, pair: bool):
    """A small fixed tanh network in float64: z -> (mean, logvar) if ``pair``, else z -> logits."""
    g = gen(seed)
    w1, b1 = randn(g, n_in, 8) * 0.7, randn(g, 8) * 0.3
    w2, b2 = randn(g, 8, n_out) * 0.7, randn(g, n_out) * 0.3
    w3, b3 = randn(g, 8, n_out) * 0.3, randn(g, n_out) * 0.2 - 0.5

    def prior_z1(z2):
        h = torch.tanh(z2 @ w1 + b1)
        return h @ w2 + b2, h @ w3 + b3

    def decode(z1):
        return torch.tanh(z1 @ w1 + b1) @ w2 * 2.0 + b2

    return prior_z1 if pair else decode


def _cases_sample() -> list[tuple]:
    g = gen(143)
    out = []
    for n, d, px, seed in ((5, 3, 6, 1430), (4, 5, 7, 1431)):   # D2 = D1, so that swapped noises still run
        out.append((randn(g, n, d), randn(g, n, d), _net(seed, d, d, True), _net(seed + 10, d, px, False)))
    return out


def _sample(eps2, eps1, prior_z1, decode):
    mean, logvar = prior_z1(eps2)
    return torch.sigmoid(decode(mean + (0.5 * logvar).exp() * eps1))


register(Task(
    "ancestral_sample", 14, "function", _sample,
    "a tensor of shape [N, P]: the Bernoulli means sigmoid(decode(z1)) with z2 = eps2, "
    "(m, logvar) = prior_z1(z2) and z1 = m + exp(logvar / 2) * eps1",
    [m(VAR_AS_STD, lambda e2, e1, p, d: torch.sigmoid(d(p(e2)[0] + p(e2)[1].exp() * e1))),
     Mistake("z1 set to the mean of p(z1|z2) (the noise eps1 left out)", "ancestral sampling draws every layer: "
             "z1 = m + exp(logvar / 2) * eps1, not m; without eps1 the samples show only what z2 decides.",
             lambda e2, e1, p, d: torch.sigmoid(d(p(e2)[0]))),
     Mistake("z1 drawn from N(0, I) (the prior network p(z1|z2) skipped)", "in the two-layer model z1 is drawn "
             "from the learned p(z1|z2), not from a standard normal: pass z2 = eps2 through prior_z1 first.",
             lambda e2, e1, p, d: torch.sigmoid(d(e1))),
     Mistake("the logits returned instead of the Bernoulli means", "decode returns logits; the task asks for "
             "the pixel probabilities sigmoid(logits).",
             lambda e2, e1, p, d: d(p(e2)[0] + (0.5 * p(e2)[1]).exp() * e1)),
     Mistake("eps1 and eps2 swapped", "eps2 is the noise of the top layer (z2 = eps2, fed to prior_z1), eps1 the "
             "noise of z1 given z2.",
             lambda e2, e1, p, d: torch.sigmoid(d(p(e1)[0] + (0.5 * p(e1)[1]).exp() * e2)))],
    _cases_sample, args=("eps2", "eps1", "prior_z1", "decode"), dims=("N", "P"),
    reread="Re-read the task: z2 = eps2; mean, logvar = prior_z1(z2); z1 = mean + exp(0.5 * logvar) * eps1; "
           "return torch.sigmoid(decode(z1))."))
