"""Pieces the chapter modules share: seeded float64 test inputs and the wording of mistakes that recur.

All test inputs are float64 tensors (or numpy arrays for the FID tasks) built from fixed seeds, so every
check is deterministic.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .core import Mistake

LOG2PI = math.log(2 * math.pi)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64)


def rand(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=g, dtype=torch.float64)


def log_normal(z, mu, logvar):
    """log N(z; mu, exp(logvar)) per element (chapter 3), not summed."""
    return -0.5 * (LOG2PI + logvar + (z - mu) ** 2 / logvar.exp())


# (name, hint) of mistakes several tasks share
KL_SIGN = ("the sign of the KL is flipped", "KL(q || p) >= 0: with the standard prior it is "
           "+1/2 * sum(mu^2 + sigma^2 - 1 - log sigma^2), so check the overall sign.")
HALF = ("a missing 1/2", "Gaussian log-densities and KLs carry a factor 1/2 in front of "
        "(log 2 pi sigma^2 + (x - mu)^2 / sigma^2); put it back.")
LOG_SIGMA = ("log sigma^2 used as log sigma", "logvar is log sigma^2, so sigma^2 = exp(logvar) and "
             "sigma = exp(logvar / 2); you treated it as log sigma.")
MEAN_LATENT = ("mean instead of sum over the latent dimensions", "the KL (or log-density) of a "
               "diagonal Gaussian is a SUM over the D latent dimensions: use .sum(dim=-1), not .mean.")
MEAN_PIXELS = ("mean instead of sum over the pixels", "a likelihood term is summed over the 784 "
               "pixels of each image (nats per image); .mean over pixels divides it by 784.")
VAR_AS_STD = ("the variance used as the standard deviation", "z = mu + sigma * eps with "
              "sigma = exp(0.5 * logvar); exp(logvar) is the variance sigma^2.")

IMAGE_DIMS = ("N", "pixels", "pixels", "pixels")
SUM_PIXELS = {-3: "sum", -2: "sum", -1: "sum"}


def m(pair: tuple[str, str], fn: Callable) -> Mistake:
    return Mistake(pair[0], pair[1], fn)
