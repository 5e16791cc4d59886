"""Chapter 1 exercises (autoencoders): flatten a batch, a linear autoencoder's forward pass, its loss."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses as _losses
from .common import IMAGE_DIMS, MEAN_PIXELS, SUM_PIXELS, gen, m, rand, randn
from .core import Mistake, Task, register


def _cases_images() -> list[tuple]:
    g = gen(1)
    return [(rand(g, 5, 1, 28, 28),), (rand(g, 3, 1, 28, 28),)]


def _cases_ae_forward() -> list[tuple]:
    g = gen(2)
    x = rand(g, 6, 784)
    return [(x, randn(g, 3, 784) * 0.05, randn(g, 3), randn(g, 784, 3) * 0.5, randn(g, 784))]


def _ae_forward(x, W_enc, b_enc, W_dec, b_dec):
    z = x @ W_enc.T + b_enc
    return z, torch.sigmoid(z @ W_dec.T + b_dec)


def cases_recon_pairs() -> list[tuple]:
    g = gen(3)
    return [(rand(g, 4, 1, 28, 28), rand(g, 4, 1, 28, 28))]


register(Task(
    "flatten_images", 1, "function", lambda x: x.reshape(x.shape[0], -1), "a tensor of shape [N, 784]",
    [Mistake("the batch dimension was flattened too", "keep the first (batch) dimension: "
             "x.reshape(x.shape[0], -1) or x.flatten(1) gives [N, 784].", lambda x: x.reshape(-1)),
     Mistake("pixels and images swapped", "rows are images: the result is [N, 784], not [784, N] "
             "(no transpose).", lambda x: x.reshape(x.shape[0], -1).T)],
    _cases_images, args=("x",), grad=("x",),
    reread="Re-read the task: one row per image, the pixels of each image in their stored order (no "
           "transpose, no permute)."))
register(Task(
    "ae_forward", 1, "function", _ae_forward, "a tuple (z [N, D], x_hat [N, 784]) of tensors with x_hat in (0, 1)",
    [Mistake("no sigmoid on the decoder output", "the decoder gives logits; x_hat = "
             "torch.sigmoid(z @ W_dec.T + b_dec) puts pixel values in (0, 1).",
             lambda x, We, be, Wd, bd: ((x @ We.T + be), (x @ We.T + be) @ Wd.T + bd)),
     Mistake("a sigmoid on the code z", "the code of this linear encoder is z = x @ W_enc.T + b_enc, "
             "with no nonlinearity.",
             lambda x, We, be, Wd, bd: (torch.sigmoid(x @ We.T + be),
                                        torch.sigmoid(torch.sigmoid(x @ We.T + be) @ Wd.T + bd))),
     Mistake("the biases are missing", "add b_enc to the code and b_dec to the decoder's logits.",
             lambda x, We, be, Wd, bd: ((x @ We.T), torch.sigmoid((x @ We.T) @ Wd.T)))],
    _cases_ae_forward, args=("x", "W_enc", "b_enc", "W_dec", "b_dec"), returns=("tensor", "tensor"),
    outputs=("z", "x_hat"), grad=("W_enc", "b_enc", "W_dec", "b_dec"),
    bounds=(None, (0.0, 1.0, "a value of sigmoid(...)")),
    reread="Re-read the task: z = x @ W_enc.T + b_enc (no nonlinearity), x_hat = sigmoid(z @ W_dec.T + b_dec)."))
register(Task(
    "ae_loss", 1, "function", lambda x_hat, x: _losses.mse(x_hat, x),
    "a scalar tensor: squared error summed over pixels, mean over images",
    [m(MEAN_PIXELS, lambda x_hat, x: F.mse_loss(x_hat, x)),
     Mistake("sum over the images too", "the loss is a mean over images (per image, so it does not "
             "grow with the batch size): sum over pixels, then .mean() over the batch.",
             lambda x_hat, x: ((x_hat - x) ** 2).sum()),
     Mistake("the error is not squared", "the reconstruction loss here is the SQUARED error "
             "(x_hat - x) ** 2; a norm (square root) or absolute value is a different loss.",
             lambda x_hat, x: (x_hat - x).flatten(1).norm(dim=1).mean())],
    cases_recon_pairs, args=("x_hat", "x"), grad=("x_hat",), bounds=((0.0, math.inf, "a squared error"),),
    terms=lambda x_hat, x: (x_hat - x) ** 2, reduce={**SUM_PIXELS, -4: "mean"}, dims=IMAGE_DIMS,
    reread="Re-read the task: square the difference, sum over the pixels of each image, then the mean over "
           "the images."))
