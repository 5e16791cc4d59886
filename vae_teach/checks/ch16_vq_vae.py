"""Chapter 16 exercises (the VQ-VAE): nearest codes, the straight-through estimator, the codebook and
commitment losses, the perplexity of code usage."""
from __future__ import annotations

import math

import torch

from .common import gen, randn
from .core import Mistake, Task, register

_ST_HINT = ("The straight-through estimator is z = z_e + (z_q - z_e).detach(): its value is z_q and its gradient "
            "with respect to z_e is the identity, so the decoder's gradient reaches the encoder. Without the "
            ".detach() the two z_e cancel in the gradient too; returning z_q alone skips the encoder entirely.")
_SG_HINT = ("The stop-gradients decide who moves: the codebook loss ||sg[z_e] - z_q||^2 must send its gradient to "
            "the codes only (detach z_e), the commitment loss beta ||z_e - sg[z_q]||^2 to the encoder only "
            "(detach z_q).")


def _cases_nearest() -> list[tuple]:
    g = gen(16)
    # codes of very different lengths, so that a dot product (no ||e||^2) and an L1 distance pick other codes
    codebook = randn(g, 6, 3) * torch.tensor([0.3, 0.6, 1.0, 1.5, 2.5, 4.0], dtype=torch.float64)[:, None]
    return [(randn(g, 40, 3) * 1.5, codebook)]


def _sq_dist(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    return ((z[:, None, :] - codebook[None]) ** 2).sum(-1)


def _cases_st() -> list[tuple]:
    g = gen(17)
    return [(randn(g, 3, 4, 2, 2), randn(g, 3, 4, 2, 2))]


def _cases_losses() -> list[tuple]:
    g = gen(18)
    return [(randn(g, 3, 4, 2, 2), randn(g, 3, 4, 2, 2), 0.25)]


def _losses(z_e, z_q, beta, sg_e=True, sg_q=True, beta_on="commitment", reduce="sum"):
    e_ = z_e.detach() if sg_e else z_e
    q_ = z_q.detach() if sg_q else z_q
    codebook, commitment = (e_ - z_q) ** 2, (z_e - q_) ** 2
    codebook = codebook * beta if beta_on in ("codebook", "both") else codebook
    commitment = commitment * beta if beta_on in ("commitment", "both") else commitment
    red = (lambda t: t.flatten(1).sum(1)) if reduce == "sum" else (lambda t: t.flatten(1).mean(1))
    return red(codebook), red(commitment)


def _cases_pp() -> list[tuple]:
    return [(torch.tensor([5.0, 0.0, 3.0, 12.0, 0.0, 1.0, 7.0, 2.0], dtype=torch.float64),)]


def _perplexity(counts, base=math.e, normalize=True, exp=True):
    p = counts / counts.sum() if normalize else counts
    nz = p[p > 0]
    h = float(-(nz * nz.log()).sum()) / math.log(base)
    return float(base ** h) if exp else h


register(Task(
    "nearest_codes", 16, "function", lambda z, cb: _sq_dist(z, cb).argmin(1),
    "an integer tensor of shape [M]: for each row of z the index (0..K-1) of the nearest codebook row",
    [Mistake("argmax instead of argmin", "the nearest code has the SMALLEST squared distance: use argmin.",
             lambda z, cb: _sq_dist(z, cb).argmax(1)),
     Mistake("the dot product z . e_k used as the similarity (||e_k||^2 dropped)", "||z - e_k||^2 = ||z||^2 - 2 z.e_k "
             "+ ||e_k||^2: the code's own length matters, so argmax of z.e_k picks long codes; keep ||e_k||^2.",
             lambda z, cb: (z @ cb.T).argmax(1)),
     Mistake("the absolute (L1) distance instead of the squared Euclidean one", "the VQ-VAE's quantizer and its "
             "losses use the squared Euclidean distance sum_d (z_d - e_kd)^2.",
             lambda z, cb: (z[:, None] - cb[None]).abs().sum(-1).argmin(1))],
    _cases_nearest, args=("z", "codebook"), dims=("M", "D"),
    reread="Re-read the task: squared distances [M, K] between every row of z and every code, then argmin over K."))
register(Task(
    "straight_through", 16, "function", lambda z_e, z_q: z_e + (z_q - z_e).detach(),
    "a tensor shaped like z_e whose value is z_q and whose gradient with respect to z_e is the identity",
    [Mistake("the straight-through estimator is reversed: z_q + (z_e - z_q).detach()", "that has the value z_e, so "
             "the decoder would see the continuous z_e and nothing is quantized. Swap: z_e + (z_q - z_e).detach().",
             lambda z_e, z_q: z_e.clone()),
     Mistake("the average of z_e and z_q", "the forward value must be exactly z_q: add (z_q - z_e).detach() to z_e.",
             lambda z_e, z_q: 0.5 * (z_e + z_q))],
    _cases_st, args=("z_e", "z_q"), grad=("z_e",), grad_hint=_ST_HINT, dims=("N", "D", "H", "W"),
    reread="Re-read the task: the value is z_q, the gradient passes to z_e unchanged."))
register(Task(
    "vq_losses", 16, "function", lambda z_e, z_q, beta: _losses(z_e, z_q, beta),
    "a tuple (codebook_loss [N], commitment_loss [N]) of tensors: per-image sums of squared distances, "
    "the commitment one times beta",
    [Mistake("beta multiplies the codebook loss instead of the commitment loss", "L = ||sg[z_e] - e||^2 + beta "
             "||z_e - sg[e]||^2: beta weighs the encoder's commitment, the codebook term has weight 1.",
             lambda z_e, z_q, b: _losses(z_e, z_q, b, beta_on="codebook")),
     Mistake("beta is missing", "the commitment loss is beta * ||z_e - sg[z_q]||^2 (beta = 0.25 in the paper).",
             lambda z_e, z_q, b: _losses(z_e, z_q, b, beta_on="none")),
     Mistake("beta on both terms", "only the commitment loss carries beta; the codebook loss has weight 1.",
             lambda z_e, z_q, b: _losses(z_e, z_q, b, beta_on="both")),
     Mistake("mean instead of sum over the positions and code dimensions", "like every term of this book the losses "
             "are summed over the grid positions and code dimensions of each image: .flatten(1).sum(1).",
             lambda z_e, z_q, b: _losses(z_e, z_q, b, reduce="mean"))],
    _cases_losses, args=("z_e", "z_q", "beta"), returns=("tensor", "tensor"),
    outputs=("codebook_loss", "commitment_loss"), grad=("z_e", "z_q"), grad_hint=_SG_HINT,
    bounds=((0.0, math.inf, "a squared distance"), (0.0, math.inf, "a squared distance")),
    dims=("N", "D", "H", "W"),
    reread="Re-read the task: per image, sum of (z_e - z_q)^2 for each loss, with beta on the commitment loss only."))
register(Task(
    "code_perplexity", 16, "function", lambda c: _perplexity(c),
    "a Python float: exp of the entropy (in nats) of the usage distribution p_k = counts_k / sum(counts)",
    [Mistake("the entropy itself, not its exponential", "perplexity = exp(H): it counts codes (K for uniform usage, "
             "1 for a single code); H alone is in nats.", lambda c: _perplexity(c, exp=False)),
     Mistake("the counts used without normalizing them", "turn counts into probabilities first: "
             "p = counts / counts.sum().", lambda c: _perplexity(c, normalize=False)),
     Mistake("2 ** H with H in nats", "the base must match the logarithm: exp(H) for H in nats (or 2 ** H for H "
             "in bits).", lambda c: float(2 ** _perplexity(c, exp=False)))],
    _cases_pp, args=("counts",), returns=("float",), bounds=((1.0, math.inf, "a perplexity"),),
    reread="Re-read the task: p_k = counts_k / sum(counts), H = -sum_k p_k log p_k over the codes with p_k > 0, "
           "return exp(H)."))
