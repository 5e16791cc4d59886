"""Reconstruction terms and the negative ELBO (chapters 3 and 9).

One reduction convention everywhere: **sum over pixels (and latent dimensions), mean over
images**, so every number is "nats per image" (or squared / absolute error per image for
MSE and MAE). Pass ``reduction="none"`` to get the per-image values ``[N]`` instead, or
``reduction="sum"`` for their sum over the batch. Inputs must be float tensors: integer pixels
(uint8) would wrap around silently, so they are refused.

What each term assumes about p(x|z) (chapter 3 derives them):

* BCE  = -log Bernoulli(x; sigmoid(logits)), exact for binary x (a likelihood in nats).
* Gaussian NLL = 1/2 * sum( log(2 pi sigma^2) + (x - mu)^2 / sigma^2 ).
* MSE  = sum (x - mu)^2: the Gaussian NLL with fixed sigma^2 = 1/2, minus its constant
  (so it is *not* in nats; it ranks models but is not a likelihood).
* MAE  = sum |x - mu|: the Laplace NLL with scale b = 1, minus its constant.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Union

import torch
import torch.nn.functional as F

from .validate import batched, check_reduction, float_tensor, in_unit_interval, real_number, same_shape
from .kl import kl_diag_gaussians

Recon = Union[str, Callable]
RECONS = ("auto", "bce", "mse", "mae", "gaussian")


class LossTerms(NamedTuple):
    """loss = recon + beta * kl, each in nats per image (mean over the batch) or per image [N]."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


def _over_images(per_image: torch.Tensor, reduction: str) -> torch.Tensor:
    """[N] per-image values -> mean or sum over images, or unchanged for "none"."""
    if check_reduction(reduction) == "none":
        return per_image
    return per_image.mean() if reduction == "mean" else per_image.sum()


def _reduce(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    check_reduction(reduction)
    return _over_images(per_pixel.flatten(1).sum(dim=1), reduction)


def _prep(x_hat: torch.Tensor, x: torch.Tensor, names=("x_hat", "x")) -> None:
    for n, t in zip(names, (x_hat, x)):
        float_tensor(n, t)
    same_shape(names[0], x_hat, names[1], x)
    batched(names[1], x)


class _BCEWithLogits(torch.autograd.Function):
    """Per-pixel BCE from logits l, in the overflow-free form  max(l, 0) - x l + log(1 + exp(-|l|)).

    Same values as ``F.binary_cross_entropy_with_logits`` to float32 rounding (at most about 1e-7
    nats per pixel: log(1 + u) is taken as log of the rounded sum), but about 2.5x faster on a CPU,
    where torch's log1p / log-sigmoid kernels are not vectorized. The gradient is the exact
    d/dl = sigmoid(l) - x (and d/dx = -l).
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, x)
        return logits.clamp(min=0) - logits * x + torch.log(1 + torch.exp(-logits.abs()))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        g_logits = grad * (torch.sigmoid(logits) - x) if ctx.needs_input_grad[0] else None
        g_x = -grad * logits if ctx.needs_input_grad[1] else None
        return g_logits, g_x


def bce(logits: torch.Tensor, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy from logits: -sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)], p = sigmoid(logits).

    Bernoulli negative log-likelihood (nats per image). Targets must lie in [0, 1].
    """
    _prep(logits, x, ("logits", "x"))
    in_unit_interval("x (BCE target)", x)
    return _reduce(_BCEWithLogits.apply(logits, x), reduction)


def mse(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Sum of squared errors per image: sum_i (x_i - x_hat_i)^2, mean over images."""
    _prep(x_hat, x)
    return _reduce((x_hat - x).pow(2), reduction)


def mae(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Sum of absolute errors per image: sum_i |x_i - x_hat_i|, mean over images."""
    _prep(x_hat, x)
    return _reduce((x_hat - x).abs(), reduction)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float,
                 reduction: str = "mean") -> torch.Tensor:
    """Gaussian negative log-likelihood in nats: 1/2 * sum_i [ log(2 pi) + logvar_i + (x_i - mean_i)^2 / exp(logvar_i) ].

    ``logvar`` is log sigma^2 (a tensor like ``mean`` or one number). Chapters 3 and 7.
    """
    _prep(mean, x, ("mean", "x"))
    if not torch.is_tensor(logvar):
        logvar = torch.full_like(mean, real_number("logvar", logvar))
    float_tensor("logvar", logvar)
    same_shape("logvar", logvar, "mean", mean)
    return _reduce(0.5 * (math.log(2 * math.pi) + logvar + (x - mean).pow(2) / logvar.exp()), reduction)


def reconstruction(model, x: torch.Tensor, x_params, recon: Recon = "auto", reduction: str = "mean") -> torch.Tensor:
    """The reconstruction term for a model's decoder output.

    ``recon``: "auto" (the decoder's own likelihood: BCE for Bernoulli, Gaussian NLL for Gaussian),
    "bce", "mse", "mae", "gaussian", or a callable ``f(x, x_params, model) -> [N]`` per-image values.
    """
    check_reduction(reduction)
    if callable(recon):
        per_image = recon(x, x_params, model)
        if not torch.is_tensor(per_image) or tuple(per_image.shape) != (x.shape[0],):
            got = tuple(per_image.shape) if torch.is_tensor(per_image) else type(per_image).__name__
            raise ValueError(f"a recon callable must return per-image values of shape [N] = [{x.shape[0]}], "
                             f"got {got}; sum over pixels inside it, e.g. .flatten(1).sum(1)")
        return _over_images(per_image, reduction)
    if recon not in RECONS:
        raise ValueError(f"recon must be one of {RECONS} or a callable, got {recon!r}")
    kind = model.config.decoder
    if recon == "auto":
        recon = "bce" if kind == "bernoulli" else "gaussian"
    if recon == "bce":
        if kind != "bernoulli":
            raise ValueError("recon='bce' needs a Bernoulli decoder (logits); this model has a "
                             f"{kind!r} decoder: use recon='gaussian', 'mse' or 'mae'")
        return bce(x_params, x, reduction)
    if recon == "gaussian":
        if kind == "bernoulli":
            raise ValueError("recon='gaussian' needs a Gaussian decoder (mean, logvar); this model is Bernoulli")
        return gaussian_nll(x, *x_params, reduction=reduction)
    mean = model.mean_image(x_params)
    return mse(mean, x, reduction) if recon == "mse" else mae(mean, x, reduction)


def negative_elbo(x: torch.Tensor, recon_per_image: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0, prior_mu: float | torch.Tensor = 0.0,
                  prior_logvar: float | torch.Tensor = 0.0, reduction: str = "mean") -> LossTerms:
    """-ELBO_beta = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z)), one-sample estimate (chapter 3).

    ``recon_per_image``: ``[N]`` reconstruction term per image (already summed over pixels; a
    per-pixel ``[N, 1, 28, 28]`` tensor is refused rather than broadcast). beta >= 0; beta = 1 gives
    the true negative ELBO. ``reduction``: "mean" or "sum" over images, or "none" for ``[N]``.
    """
    check_reduction(reduction)
    beta = real_number("beta", beta, minimum=0.0)
    kl = kl_diag_gaussians(mu, logvar, prior_mu, prior_logvar)
    float_tensor("recon_per_image", recon_per_image)
    if tuple(recon_per_image.shape) != tuple(kl.shape):
        raise ValueError(f"recon_per_image must hold one value per image, shape [N] = {list(kl.shape)} "
                         f"(N from mu), got {tuple(recon_per_image.shape)}; sum per-pixel terms over "
                         "pixels first, e.g. .flatten(1).sum(1)")
    loss = recon_per_image + beta * kl
    return LossTerms(*(_over_images(t, reduction) for t in (loss, recon_per_image, kl)))


def _float32(t):
    """t (a tensor, a tuple of them, or None) in float32 when it came out of a bf16 / fp16 forward pass."""
    if isinstance(t, tuple):
        return tuple(_float32(u) for u in t)
    return t.float() if torch.is_tensor(t) and t.dtype in (torch.bfloat16, torch.float16) else t


def forward_and_recon(model, x: torch.Tensor, recon: Recon = "auto"):
    """``(out, rec)``: the model's :class:`~vae_teach.models.Output` on ``x`` (float32 even under
    autocast) and its reconstruction term per image ``[N]``, one posterior sample per image."""
    out = model(x)
    out = type(out)(*(_float32(t) for t in out))
    return out, reconstruction(model, x, out.x_params, recon, reduction="none")


def loss_terms(model, x: torch.Tensor, *, recon: Recon = "auto", beta: float = 1.0,
               prior_mu: float | torch.Tensor = 0.0, prior_logvar: float | torch.Tensor = 0.0,
               reduction: str = "mean", labels: torch.Tensor | None = None) -> LossTerms:
    """Run ``model`` on ``x`` and return its training objective: the negative ELBO for a VAE
    (recon + beta * KL), the reconstruction term alone for an autoencoder (kl = 0).

    ``reduction``: "mean" (nats per image), "sum" (over the batch) or "none" (``[N]``); beta >= 0.
    ``labels``: the class of each image ``[N]``, for a conditional model only (the conditional VAE of
    chapter 15, whose negative conditional ELBO this then is); refused for any other model.

    Under mixed precision (``torch.autocast``) the network runs in bf16, but the likelihood and KL
    are computed in float32: bf16 keeps 8 bits of mantissa, and a sum over 784 pixels of terms
    rounded that coarsely would be off by whole nats (chapter 5).
    """
    check_reduction(reduction)
    real_number("beta", beta, minimum=0.0)
    if getattr(model, "conditional", False):  # p(x|z, y), q(z|x, y): the labels go to the model (chapter 15)
        return model.elbo_terms(x, labels, recon=recon, beta=beta, prior_mu=prior_mu, prior_logvar=prior_logvar,
                                reduction=reduction)
    if labels is not None:
        raise ValueError(f"labels were given, but a {type(model).__name__} is not conditional (it models p(x), "
                         "not p(x|y)); drop the labels, or use vae_teach.cvae.ConditionalVAE")
    if hasattr(model, "elbo_terms"):  # a model with its own ELBO, e.g. the two-layer VAE (chapter 14)
        return model.elbo_terms(x, recon=recon, beta=beta, prior_mu=prior_mu, prior_logvar=prior_logvar,
                                reduction=reduction)
    out, rec = forward_and_recon(model, x, recon)
    if out.mu is None:
        zero = torch.zeros_like(rec)
        return LossTerms(*(_over_images(t, reduction) for t in (rec, rec, zero)))
    return negative_elbo(x, rec, out.mu, out.logvar, beta, prior_mu, prior_logvar, reduction)


# ----------------------------------------------------------------------------------------------
# Perceptual loss (chapter 9)
# ----------------------------------------------------------------------------------------------
def perceptual(x_hat: torch.Tensor, x: torch.Tensor, classifier=None, reduction: str = "mean") -> torch.Tensor:
    """Perceptual loss: sum_l || phi_l(x_hat) - phi_l(x) ||^2 over the activations phi_l of the
    package's MNIST classifier after its 2nd and 4th ReLU (sum over units, mean over images).

    ``x_hat`` and ``x``: images ``[N, 1, 28, 28]`` in [0, 1]. ``classifier`` defaults to
    :func:`vae_teach.fid.load_classifier` ("mnist"); it is frozen, gradients flow only to ``x_hat``.
    It is *not* a likelihood: it compares what the classifier sees, not the pixels (chapter 9).
    """
    _prep(x_hat, x)
    check_reduction(reduction)
    if classifier is None:
        from .fid import load_classifier

        classifier = load_classifier("mnist")
    fa = classifier.perceptual_features(x_hat)
    with torch.no_grad():
        fb = classifier.perceptual_features(x)
    per_image = sum((a - b).pow(2).flatten(1).sum(dim=1) for a, b in zip(fa, fb))
    return _over_images(per_image, reduction)


def perceptual_recon(lam: float = 0.01, base: str | None = "bce", classifier=None) -> Callable:
    """A ``recon`` callable for :func:`vae_teach.train.fit`: lam * perceptual + base (chapter 9).

    ``base``: "bce" (Bernoulli decoder logits), "mse", "mae", or None for the perceptual loss alone
    (then ``lam`` still scales it). Returns ``f(x, x_params, model) -> [N]`` per-image values.
    """
    if base not in (None, "bce", "mse", "mae"):
        raise ValueError(f"base must be None, 'bce', 'mse' or 'mae', got {base!r}")
    if not lam > 0:
        raise ValueError(f"lam must be positive, got {lam}")

    def recon(x: torch.Tensor, x_params, model) -> torch.Tensor:
        x_hat = model.mean_image(x_params)
        out = lam * perceptual(x_hat, x, classifier, reduction="none")
        if base is not None:
            out = out + reconstruction(model, x, x_params, base, reduction="none")
        return out

    recon.__name__ = f"perceptual_{lam:g}" + (f"_plus_{base}" if base else "")
    return recon
