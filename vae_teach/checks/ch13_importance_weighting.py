"""Chapter 13 exercises (importance weighting): the normalized importance weights, their effective sample
size, and the split of the inference gap into its approximation and amortization parts."""
from __future__ import annotations

import math

import torch

from .. import iwae as _iwae
from .common import gen, randn
from .core import Mistake, Task, register


def _cases_log_w() -> list[tuple]:
    g = gen(131)
    # log-weights of images: hundreds of nats below 0 (exp underflows), spread of a few nats between samples;
    # the second case has one dominant weight per image, the third k = 1
    a = randn(g, 7, 4) * 2.0 - 800.0
    b = randn(g, 5, 3) * 0.5 - 90.0
    b[2, :] += torch.tensor([9.0, 0.0, 4.0], dtype=torch.float64)
    return [(a,), (b,), (randn(g, 1, 3) - 120.0,)]


def _normalized(log_w):
    return torch.softmax(log_w, dim=0)


def _ess(log_w):
    return _iwae.effective_sample_size(log_w)


register(Task(
    "normalized_weights", 13, "function", _normalized,
    "a tensor of shape [k, N]: w~_i = w_i / sum_j w_j for each image (column), computed from log_w without "
    "underflow; each column sums to 1",
    [Mistake("the maximum subtracted but the weights not normalized", "exp(log_w - max) avoids the underflow but "
             "its column does not sum to 1: divide by its sum, i.e. subtract torch.logsumexp(log_w, 0) instead "
             "of the maximum (torch.softmax(log_w, dim=0)).",
             lambda lw: (lw - lw.max(dim=0).values).exp()),
     Mistake("normalized over the images instead of the samples", "log_w is [k, N]: the k weights of ONE image "
             "are normalized against each other, so reduce over dim 0 (softmax(log_w, dim=0)).",
             lambda lw: torch.softmax(lw, dim=1)),
     Mistake("the weights divided by their mean instead of their sum (they sum to k)", "w~_i = w_i / sum_j w_j: "
             "subtract torch.logsumexp(log_w, 0), not the log-mean-exp (logsumexp - log k).",
             lambda lw: (lw - (torch.logsumexp(lw, dim=0) - math.log(lw.shape[0]))).exp()),
     Mistake("the log-weights normalized instead of the weights", "log_w / log_w.sum(0) is not a distribution "
             "over the samples; the weights are exp(log_w): softmax(log_w, dim=0).",
             lambda lw: lw / lw.sum(0)),
     Mistake("the sign of the log-weights flipped", "a larger log-weight means a larger weight: "
             "softmax(log_w, dim=0), not softmax(-log_w, dim=0).",
             lambda lw: torch.softmax(-lw, dim=0)),
     Mistake("the normalized log-weights returned (log w~), not the weights", "return the weights themselves, "
             "w~ = exp(log_w - logsumexp(log_w, 0)); log_softmax gives their logarithms.",
             lambda lw: torch.log_softmax(lw, dim=0))],
    _cases_log_w, args=("log_w",), grad=("log_w",), dims=("k", "N"),
    bounds=((0.0, 1.0, "a normalized weight"),),
    reread="Re-read the task: exp(log_w - logsumexp(log_w, dim=0)), i.e. torch.softmax(log_w, dim=0)."))
register(Task(
    "effective_sample_size", 13, "function", _ess,
    "a tensor of shape [N]: ESS = 1 / sum_i w~_i^2 for each image, between 1 and k",
    [Mistake("the reciprocal is missing (sum of the squared normalized weights)", "sum_i w~_i^2 is between 1/k and "
             "1; the effective sample size is its reciprocal, 1 / sum_i w~_i^2.",
             lambda lw: (torch.softmax(lw, dim=0) ** 2).sum(0)),
     Mistake("divided by k (the efficiency ESS / k, not the ESS)", "the ESS is a number of samples, between 1 and "
             "k: 1 / sum_i w~_i^2, without the division by k.",
             lambda lw: 1.0 / (torch.softmax(lw, dim=0) ** 2).sum(0) / lw.shape[0]),
     Mistake("the weights normalized over the images instead of the samples", "normalize the k weights of each "
             "image (softmax over dim 0), then sum their squares over dim 0.",
             lambda lw: 1.0 / (torch.softmax(lw, dim=1) ** 2).sum(0)),
     Mistake("1 / max_i w~_i (a different diagnostic) instead of 1 / sum_i w~_i^2", "Kish's effective sample size "
             "squares every normalized weight and sums: 1 / sum_i w~_i^2; 1 / max_i w~_i is larger unless one "
             "weight carries everything.",
             lambda lw: 1.0 / torch.softmax(lw, dim=0).max(dim=0).values),
     Mistake("the square of the sum instead of the sum of the squares", "(sum_i w~_i)^2 is 1 for normalized "
             "weights; the ESS is 1 / sum_i (w~_i^2), square first, then sum.",
             lambda lw: 1.0 / torch.softmax(lw, dim=0).sum(0) ** 2),
     Mistake("the unnormalized weights squared (exp(log_w) underflows or the scale is wrong)", "normalize first: "
             "w~ = softmax(log_w, dim=0), then 1 / sum_i w~_i^2 (equivalently (sum w)^2 / sum w^2, computed in "
             "log space).",
             lambda lw: 1.0 / (lw.exp() ** 2).sum(0))],
    _cases_log_w, args=("log_w",), grad=("log_w",), dims=("k", "N"),
    reread="Re-read the task: w~ = torch.softmax(log_w, dim=0), then 1 / (w~ ** 2).sum(dim=0)."))


def _cases_gaps() -> list[tuple]:
    g = gen(133)
    n = 9
    elbo_enc = randn(g, n) * 20.0 - 100.0
    elbo_opt = elbo_enc + randn(g, n).abs() * 3.0 + 0.5
    log_px = elbo_opt + randn(g, n).abs() * 1.5 + 0.2
    return [(elbo_enc, elbo_opt, log_px), (elbo_enc[:4] * 0.9, elbo_opt[:4] * 0.9 + 1.0, log_px[:4] * 0.9 + 4.0)]


def _gaps(elbo_amortized, elbo_optimized, log_px):
    return (log_px - elbo_optimized).mean(), (elbo_optimized - elbo_amortized).mean()


register(Task(
    "inference_gaps", 13, "function", _gaps,
    "a tuple of two 0-d tensors (approximation gap, amortization gap), each a mean over the N images in nats "
    "per image, both >= 0 for these inputs",
    [Mistake("the two gaps swapped", "the approximation gap is what the BEST Gaussian still misses, "
             "log p(x) - ELBO(q*); the amortization gap is what the encoder loses against it, ELBO(q*) - ELBO(q_phi).",
             lambda a, o, p: _gaps(a, o, p)[::-1]),
     Mistake("the approximation gap measured from the encoder's ELBO (that is the whole inference gap)",
             "log p(x) - ELBO(q_phi) is the total gap, the sum of both parts; the approximation gap starts at the "
             "optimized q*: log p(x) - ELBO(q*).",
             lambda a, o, p: ((p - a).mean(), (o - a).mean())),
     Mistake("both signs flipped (bound minus log p(x))", "each gap is the higher bound minus the lower one, so "
             "both are >= 0: log p(x) >= ELBO(q*) >= ELBO(q_phi).",
             lambda a, o, p: ((o - p).mean(), (a - o).mean())),
     Mistake("summed over the images instead of averaged", "the gaps are in nats per image: .mean() over the N "
             "images, not .sum().",
             lambda a, o, p: ((p - o).sum(), (o - a).sum())),
     Mistake("the amortization gap measured against log p(x)", "the amortization gap compares the encoder with "
             "the best Gaussian for each image, ELBO(q*) - ELBO(q_phi); log p(x) enters only the approximation gap.",
             lambda a, o, p: ((p - o).mean(), (p - a).mean()))],
    _cases_gaps, args=("elbo_amortized", "elbo_optimized", "log_px"), returns=("tensor", "tensor"),
    outputs=("approximation gap", "amortization gap"),
    reread="Re-read the task: (log_px - elbo_optimized).mean() and (elbo_optimized - elbo_amortized).mean()."))
