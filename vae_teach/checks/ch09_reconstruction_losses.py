"""Chapter 9 exercises (reconstruction losses): BCE and MAE per image, a perceptual loss."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses as _losses
from .ch01_autoencoders import cases_recon_pairs
from .common import IMAGE_DIMS, MEAN_PIXELS, SUM_PIXELS, gen, m, rand, randn
from .core import Mistake, Task, register


def _cases_bce() -> list[tuple]:
    g = gen(17)
    return [(randn(g, 4, 1, 28, 28) * 2.0, rand(g, 4, 1, 28, 28))]


def _make_features():
    g = gen(18)
    A = randn(g, 784, 32) / 28.0
    B = randn(g, 32, 16) / 5.0

    def features(x: torch.Tensor) -> list[torch.Tensor]:
        """A fixed random 'feature extractor' with two ReLU layers: [N,1,28,28] -> [[N,32], [N,16]]."""
        h1 = torch.relu(x.flatten(1) @ A)
        h2 = torch.relu(h1 @ B)
        return [h1, h2]

    return features


FEATURES = _make_features()


def _cases_perceptual() -> list[tuple]:
    g = gen(19)
    return [(FEATURES, rand(g, 5, 1, 28, 28), rand(g, 5, 1, 28, 28))]


class _FeatureNet:
    """Adapter so ``losses.perceptual`` can use any ``features`` function as its classifier."""

    def __init__(self, features):
        self.perceptual_features = features


def _perceptual_reference(features, x_hat, x):
    """The package's ``losses.perceptual`` (chapter 9) with the task's feature extractor."""
    return _losses.perceptual(x_hat, x, classifier=_FeatureNet(features), reduction="none")


def _perceptual(features, x_hat, x, *, layers=None, reduce="sum", power=2):
    fa, fb = features(x_hat), features(x)
    idx = range(len(fa)) if layers is None else layers
    total = 0.0
    for i in idx:
        d = ((fa[i] - fb[i]).abs() ** power).flatten(1)
        total = total + (d.sum(1) if reduce == "sum" else d.mean(1))
    return total


register(Task(
    "bce_per_image", 9, "function", lambda lg, x: _losses.bce(lg, x, reduction="none"),
    "a tensor of shape [N]: BCE in nats per image, summed over pixels",
    [m(MEAN_PIXELS, lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="none").flatten(1).mean(1)),
     Mistake("the sigmoid is applied twice", "binary_cross_entropy_with_logits applies the sigmoid "
             "itself: pass the logits, not torch.sigmoid(logits).",
             lambda lg, x: F.binary_cross_entropy_with_logits(torch.sigmoid(lg), x, reduction="none").flatten(1).sum(1)),
     Mistake("the sign is flipped", "BCE is the NEGATIVE log-likelihood: positive, in nats.",
             lambda lg, x: -_losses.bce(lg, x, reduction="none"))],
    _cases_bce, args=("logits", "x"), grad=("logits",), bounds=((0.0, math.inf, "a binary cross-entropy"),),
    terms=lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="none"), reduce=SUM_PIXELS,
    dims=IMAGE_DIMS,
    reread="Re-read the task: -[x log p + (1 - x) log(1 - p)] with p = sigmoid(logits), summed over the "
           "pixels of each image."))
register(Task(
    "mae_per_image", 9, "function", lambda x_hat, x: _losses.mae(x_hat, x, reduction="none"),
    "a tensor of shape [N]: the absolute error summed over pixels, per image",
    [m(MEAN_PIXELS, lambda x_hat, x: (x_hat - x).abs().flatten(1).mean(1)),
     Mistake("squared instead of absolute error (that is the MSE)", "MAE uses |x_hat - x|.",
             lambda x_hat, x: ((x_hat - x) ** 2).flatten(1).sum(1)),
     Mistake("the absolute value is missing", "without .abs() positive and negative errors cancel.",
             lambda x_hat, x: (x_hat - x).flatten(1).sum(1))],
    cases_recon_pairs, args=("x_hat", "x"), grad=("x_hat",), bounds=((0.0, math.inf, "a sum of absolute errors"),),
    terms=lambda x_hat, x: (x_hat - x).abs(), reduce=SUM_PIXELS, dims=IMAGE_DIMS,
    reread="Re-read the task: |x_hat - x| summed over the pixels of each image."))
register(Task(
    "perceptual_loss", 9, "function", _perceptual_reference,
    "a tensor of shape [N]: sum over layers of the squared feature differences summed over features",
    [Mistake("only the last layer is used", "sum the squared differences of EVERY layer the feature "
             "extractor returns.", lambda f, a, b: _perceptual(f, a, b, layers=[-1])),
     Mistake("mean instead of sum over the feature dimensions", "sum the squared differences over "
             "each layer's features (like pixels in a reconstruction loss).",
             lambda f, a, b: _perceptual(f, a, b, reduce="mean")),
     Mistake("absolute instead of squared differences", "the perceptual loss here is a squared "
             "(L2) distance between features.", lambda f, a, b: _perceptual(f, a, b, power=1))],
    _cases_perceptual, args=("features", "x_hat", "x"), grad=("x_hat",),
    bounds=((0.0, math.inf, "a sum of squared differences"),),
    reread="Re-read the task: for every layer of features(x_hat) and features(x), the squared difference "
           "summed over that layer's features; then the sum over the layers."))
