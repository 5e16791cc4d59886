"""Chapter 15 exercises (conditional VAEs): the one-hot conditioning of a layer's input, and the
unconditional bound of a conditional VAE mixed over its labels."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .common import gen, randn
from .core import Mistake, Task, register

N_CLASSES = 10


def _cases_condition() -> list[tuple]:
    g = gen(31)
    # labels that leave out class 9, so a one-hot code sized by the largest label seen has the wrong width
    return [(randn(g, 6, 5), torch.tensor([3, 0, 7, 1, 3, 8])), (randn(g, 4, 3), torch.tensor([9, 2, 2, 5]))]


def _condition(h, labels, *, first=False, as_number=False, shift=0):
    code = labels[:, None].to(h.dtype) if as_number else F.one_hot(labels + shift, N_CLASSES + max(shift, 0)).to(h.dtype)
    return torch.cat([code, h] if first else [h, code], dim=1)


def _cases_mixture() -> list[tuple]:
    g = gen(32)
    return [(randn(g, 5, N_CLASSES) * 4.0 - 800.0,)]


def _mixture(elbo):
    return torch.logsumexp(elbo, dim=1) - math.log(elbo.shape[1])


register(Task(
    "condition_on_label", 15, "function", _condition,
    f"a tensor of shape [N, F + {N_CLASSES}]: the rows of h followed by the one-hot code of their labels",
    [Mistake("the label appended as one number, not a one-hot code", "a class index is not a quantity (class 8 "
             "is not 'more' than class 4): append F.one_hot(labels, 10), ten columns with a single 1.",
             lambda h, y: _condition(h, y, as_number=True)),
     Mistake("the one-hot code put before h instead of after it", "the task (and the package's ConditionalVAE) "
             "concatenates [h, onehot(y)]: h first.", lambda h, y: _condition(h, y, first=True)),
     Mistake("the labels shifted by one (classes counted from 1)", "MNIST's classes are 0..9: "
             "F.one_hot(labels, 10) puts digit 0 in column 0.", lambda h, y: _condition(h, y, shift=1)[:, :-1])],
    _cases_condition, args=("h", "labels"), grad=("h",), dims=("N", "F"),
    reread="Re-read the task: torch.cat([h, F.one_hot(labels, 10).to(h.dtype)], dim=1), ten classes whatever "
           "labels the batch holds."))
register(Task(
    "label_mixture_bound", 15, "function", _mixture,
    "a tensor of shape [N]: log (1/K) sum_y exp(elbo[:, y]) in nats per image",
    [Mistake("the mean of the ELBOs over the labels", "that is a looser bound (Jensen: a mean of logs is below "
             "the log of the mean): take the log of the MEAN of exp(elbo), torch.logsumexp(elbo, 1) - log K.",
             lambda e: e.mean(1)),
     Mistake("the - log K term is missing", "p(y) = 1/K weights every label: subtract math.log(K) after the "
             "logsumexp.", lambda e: torch.logsumexp(e, dim=1)),
     Mistake("the largest ELBO over the labels taken instead of the log-sum-exp", "the mixture adds the "
             "probabilities of every label: torch.logsumexp(elbo, 1) - log K (which lies between max - log K "
             "and max).", lambda e: e.max(1).values),
     Mistake("log(mean(exp(elbo))) computed naively: it underflows", "exp(-800) is 0 in floating point, so the "
             "log gives -inf; use torch.logsumexp, which subtracts the maximum first.",
             lambda e: torch.log(torch.exp(e).mean(1))),
     Mistake("reduced over the images instead of the labels", "elbo is [N, K]: reduce over the K labels "
             "(dim 1), one bound per image.", lambda e: torch.logsumexp(e, dim=0) - math.log(e.shape[0]))],
    _cases_mixture, args=("elbo",), grad=("elbo",), dims=("N", "K"),
    reread="Re-read the task: torch.logsumexp over the K labels (dim 1), minus log K."))
