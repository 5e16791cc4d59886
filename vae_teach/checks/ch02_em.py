"""Chapter 2 exercises (EM for a 1-D Gaussian mixture): the E-step, the M-step, the log-likelihood.

The references are the package's ``em`` functions (chapter 2) on 1-D data; the local formulas below
compute the catalogued wrong variants (and agree with ``em`` on the right answer, as the tests check).
"""
from __future__ import annotations

import math

import torch

from .common import HALF, gen, m, randn
from .core import Mistake, Task, register


def _cases_gmm() -> list[tuple]:
    g = gen(4)
    x = torch.cat([randn(g, 30) * 0.5 - 2.0, randn(g, 20) * 1.5 + 3.0])
    return [(x, torch.tensor([0.3, 0.7], dtype=torch.float64), torch.tensor([-1.0, 2.0], dtype=torch.float64),
             torch.tensor([0.5, 3.0], dtype=torch.float64))]


def _gmm_log_joint(x, weights, means, variances, var_as_std=False, half=True):
    var = variances ** 2 if var_as_std else variances
    c = 0.5 if half else 1.0
    return weights.log() - c * torch.log(2 * math.pi * var) - 0.5 * (x[:, None] - means) ** 2 / var


def _e_step(x, weights, means, variances):
    return torch.softmax(_gmm_log_joint(x, weights, means, variances), dim=1)


def _cases_m_step() -> list[tuple]:
    g = gen(5)
    x = torch.cat([randn(g, 25) - 2.0, randn(g, 15) * 2.0 + 3.0])
    return [(x, torch.softmax(randn(g, 40, 3) * 2.0, dim=1))]


def _m_step(x, resp):
    nk = resp.sum(0)
    means = (resp * x[:, None]).sum(0) / nk
    variances = (resp * (x[:, None] - means) ** 2).sum(0) / nk
    return nk / x.shape[0], means, variances


def _gmm_ll_local(x, weights, means, variances):
    return float(torch.logsumexp(_gmm_log_joint(x, weights, means, variances), dim=1).mean())


def _em_params(weights, means, variances):
    from ..em import GMMParams
    return GMMParams(weights.numpy(), means.numpy()[:, None], variances.numpy()[:, None], "diag")


def _e_step_reference(x, weights, means, variances):
    """The package's ``em.e_step`` (chapter 2) on 1-D data, as a float64 tensor [N, K]."""
    from .. import em
    return torch.from_numpy(em.e_step(x.numpy(), _em_params(weights, means, variances))[0])


def _m_step_reference(x, resp):
    """The package's ``em.m_step`` (diagonal, no regularisation) on 1-D data."""
    from .. import em
    p = em.m_step(x.numpy(), resp.numpy(), covariance_type="diag", reg_covar=0.0)
    return (torch.from_numpy(p.weights), torch.from_numpy(p.means[:, 0]), torch.from_numpy(p.covariances[:, 0]))


def _gmm_ll(x, weights, means, variances):
    """The package's ``em.log_likelihood`` averaged over the data points (nats per point)."""
    from .. import em
    return float(em.log_likelihood(x.numpy(), _em_params(weights, means, variances)).mean())


_GMM_ARGS = ("x", "weights", "means", "variances")

register(Task(
    "e_step", 2, "function", _e_step_reference, "responsibilities, a tensor of shape [N, K] whose rows sum to 1",
    [Mistake("E-step responsibilities not normalised", "divide pi_k N(x_n; m_k, v_k) by its sum "
             "over k, so each row sums to 1 (or use torch.softmax of the log-joint over dim=1).",
             lambda x, w, mu, v: _gmm_log_joint(x, w, mu, v).exp()),
     Mistake("normalised over the wrong axis", "responsibilities r_nk are normalised over the "
             "components k (dim=1), so each data point's row sums to 1.",
             lambda x, w, mu, v: torch.softmax(_gmm_log_joint(x, w, mu, v), dim=0)),
     Mistake("the variance used as the standard deviation", "variances holds sigma_k^2: the "
             "density is exp(-(x - m)^2 / (2 v)) / sqrt(2 pi v), do not square it again.",
             lambda x, w, mu, v: torch.softmax(_gmm_log_joint(x, w, mu, v, var_as_std=True), dim=1)),
     Mistake("the mixing weights are missing", "the posterior of component k is proportional to "
             "pi_k * N(x; m_k, v_k): multiply by the weights before normalising.",
             lambda x, w, mu, v: torch.softmax(_gmm_log_joint(x, torch.ones_like(w), mu, v), dim=1))],
    _cases_gmm, args=_GMM_ARGS, bounds=((0.0, 1.0, "a responsibility"),),
    reread="Re-read the task: r_nk is proportional to pi_k N(x_n; m_k, v_k) with v_k a variance, normalised "
           "over k."))
register(Task(
    "m_step", 2, "function", _m_step_reference, "a tuple (weights [K], means [K], variances [K]) of tensors",
    [Mistake("variances divided by N instead of N_k", "each component's variance is a weighted "
             "average: sum_n r_nk (x_n - m_k)^2 / N_k with N_k = sum_n r_nk.",
             lambda x, r: (_m_step(x, r)[0], _m_step(x, r)[1],
                           (r * (x[:, None] - _m_step(x, r)[1]) ** 2).sum(0) / x.shape[0])),
     Mistake("weights not divided by N", "the mixing weight is pi_k = N_k / N, so the weights "
             "sum to 1.", lambda x, r: (r.sum(0), _m_step(x, r)[1], _m_step(x, r)[2])),
     Mistake("standard deviations returned instead of variances", "return the variance "
             "sum_n r_nk (x_n - m_k)^2 / N_k, without a square root.",
             lambda x, r: (_m_step(x, r)[0], _m_step(x, r)[1], _m_step(x, r)[2].sqrt())),
     Mistake("the means ignore the responsibilities", "m_k = sum_n r_nk x_n / N_k: weight each "
             "point by its responsibility.",
             lambda x, r: (_m_step(x, r)[0], x.mean().expand(r.shape[1]),
                           (r * (x[:, None] - x.mean()) ** 2).sum(0) / r.sum(0)))],
    _cases_m_step, args=("x", "r"), returns=("tensor", "tensor", "tensor"),
    outputs=("weights", "means", "variances"),
    bounds=((0.0, 1.0, "a mixing weight"), None, (0.0, math.inf, "a variance")),
    reread="Re-read the task: N_k = sum_n r_nk; weights N_k / N; means and variances are r-weighted "
           "averages divided by N_k."))
register(Task(
    "gmm_log_likelihood", 2, "function", _gmm_ll, "a Python float: the mean log-likelihood per data point, in nats",
    [m(HALF, lambda x, w, mu, v: float(torch.logsumexp(_gmm_log_joint(x, w, mu, v, half=False), 1).mean())),
     Mistake("log of the sum replaced by a sum of logs", "log p(x_n) = log sum_k pi_k N(x_n; m_k, v_k): "
             "the log goes outside the sum over components (torch.logsumexp over k).",
             lambda x, w, mu, v: float(_gmm_log_joint(x, w, mu, v).sum(1).mean())),
     Mistake("sum instead of mean over the data points", "report the mean over the N points "
             "(nats per data point), so the number does not grow with N.",
             lambda x, w, mu, v: float(torch.logsumexp(_gmm_log_joint(x, w, mu, v), 1).sum())),
     Mistake("the variance used as the standard deviation", "variances holds sigma_k^2; use it "
             "as is in log(2 pi v) and (x - m)^2 / v.",
             lambda x, w, mu, v: float(torch.logsumexp(_gmm_log_joint(x, w, mu, v, var_as_std=True), 1).mean()))],
    _cases_gmm, args=_GMM_ARGS, returns=("float",),
    reread="Re-read the task: the logsumexp over the components k of log pi_k + log N(x_n; m_k, v_k), then "
           "the mean over the N points."))
