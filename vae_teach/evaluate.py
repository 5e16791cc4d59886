"""Evaluation: test negative ELBO, the IWAE bound on log p(x), active units, KL per unit (chapters 5, 7, 11, 12).

The IWAE bound (Burda, Grosse & Salakhutdinov, 2016), with z_i ~ q(z|x) i.i.d.:

    L_k(x) = E[ log (1/k) sum_{i=1..k} p(x, z_i) / q(z_i|x) ]  <=  log p(x)

L_1 is the ELBO; L_k rises with k and tends to log p(x). ``iwae_nll`` reports -L_k in nats per
image (mean over images). It is a likelihood only when p(x|z) is a proper density for the data:
a Bernoulli decoder on *binarized* images, or a Gaussian decoder on continuous ones.
"""
from __future__ import annotations

import math

import torch

from . import data as _data
from ._progress import progress
from . import iwae as _iwae
from .kl import gaussian_log_density, kl_per_dimension
from .precision import flush_denormals, model_device
from .train import _check_images, evaluate_terms
from .validate import integer


def negative_elbo(model, images: torch.Tensor, *, prior_mu: float = 0.0, prior_logvar: float = 0.0,
                  batch_size: int = 1000, seed: int = 0, labels: torch.Tensor | None = None) -> float:
    """Test negative ELBO (beta = 1, the decoder's own likelihood), nats per image, one z per image.

    ``labels`` (a conditional VAE, chapter 15): the images' classes; the result is then the negative
    conditional ELBO, a bound on -log p(x|y) rather than on -log p(x)."""
    return evaluate_terms(model, images, recon="auto", beta=1.0, prior_mu=prior_mu,
                          prior_logvar=prior_logvar, batch_size=batch_size, seed=seed, labels=labels)[0]


@torch.no_grad()
@flush_denormals()  # k decoder passes per image: the slow path for underflowing numbers is avoided (vae_teach.precision)
def iwae_log_likelihood(model, images: torch.Tensor, k: int = 100, *, prior_mu: float = 0.0,
                        prior_logvar: float = 0.0, batch_size: int = 100, max_rows: int = 50_000,
                        seed: int = 0, desc: str = "IWAE") -> torch.Tensor:
    """Per-image IWAE_k bound L_k(x) in nats, shape ``[N]``.

    Samples are drawn in chunks of at most ``max_rows`` decoder rows (images x samples), and the
    log-mean-exp is accumulated across chunks, so k = 5000 fits in memory. The log-weights are
    those of :mod:`vae_teach.iwae` (the training objective of chapter 13); a model with its own
    ``log_weights`` (the two-layer VAE, chapter 14) is evaluated through it.
    """
    own = hasattr(model, "log_weights")  # a model with its own latent structure (chapter 14)
    if not (own or hasattr(model, "to_mu")):
        raise TypeError("the IWAE bound needs a VAE (an encoder that outputs q(z|x)); got an autoencoder")
    k = integer("k", k, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=1)
    _check_images("images", images)
    model.eval()
    dev = model_device(model)  # computed where the model is; the noise is drawn on the CPU (same numbers on every device)
    g = torch.Generator().manual_seed(seed)
    out = []
    n_batches = math.ceil(images.shape[0] / batch_size)
    for xb in progress(_data.batches(images, batch_size, shuffle=False), total=n_batches, desc=desc):
        xb = xb.to(dev)
        b = xb.shape[0]
        if not own:
            mu, logvar = model.encode(xb)
        chunk = max(1, min(k, max_rows // b))
        running = torch.full((b,), -math.inf, dtype=torch.float64, device=dev)
        done = 0
        while done < k:
            c = min(chunk, k - done)
            if own:
                log_w = _iwae.log_weights(model, xb, c, prior_mu=prior_mu, prior_logvar=prior_logvar,
                                          generator=g).log_w.double()
            else:
                eps = torch.randn((c, *mu.shape), generator=g).to(dev)
                log_w = _iwae.gaussian_log_weights(model, xb, mu, logvar, eps, prior_mu, prior_logvar).log_w.double()
            running = torch.logaddexp(running, torch.logsumexp(log_w, dim=0))
            done += c
        out.append((running - math.log(k)).float().cpu())
    return torch.cat(out)


def iwae_nll(model, images: torch.Tensor, k: int = 100, **kwargs) -> float:
    """-mean_x L_k(x): the importance-weighted upper bound on the NLL, nats per image."""
    return -float(iwae_log_likelihood(model, images, k, **kwargs).double().mean())


@torch.no_grad()
def active_units(model, images: torch.Tensor, threshold: float = 0.01, batch_size: int = 1000) -> tuple[int, torch.Tensor]:
    """Count latent units whose posterior mean varies with x: A_u = Var_x( E_q[z_u | x] ) > threshold.

    Burda et al. (2016)'s measure of posterior collapse. Returns ``(count, per-unit variances)``.
    """
    _check_images("images", images)
    if images.shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 images (a variance over images), got {images.shape[0]}")
    model.eval()
    dev = model_device(model)
    mus = torch.cat([model.encode(xb.to(dev))[0].cpu() for xb in _data.batches(images, batch_size, shuffle=False)])
    var = mus.var(dim=0)
    return int((var > threshold).sum()), var


# A unit is "informative" when it carries at least this many nats on average (chapter 7 justifies 0.1).
INFORMATIVE_NATS = 0.1


@torch.no_grad()
def kl_per_unit(model, images: torch.Tensor, *, prior_mu: float = 0.0, prior_logvar: float = 0.0,
                batch_size: int = 1000) -> torch.Tensor:
    """Rate per latent unit, ``[D]`` in nats: R_u = mean over images x of KL(q(z_u|x) || p(z_u)).

    With q(z_u|x) = N(mu_u, sigma_u^2) and p(z_u) = N(m, s^2), the closed form of chapter 6, per dimension:

        KL_u(x) = log(s / sigma_u) + (sigma_u^2 + (mu_u - m)^2) / (2 s^2) - 1/2.

    The units' rates sum to the model's KL term (the rate R). Each is an upper bound on what the unit
    tells about the image: R_u = I(x; z_u) + KL(q(z_u) || p(z_u)) >= I(x; z_u) (chapter 7). A collapsed
    unit has R_u near 0: q(z_u|x) = p(z_u) for every x (chapter 12). For the two-layer VAE this reads
    q(z1|x) against N(0, I), which is not its prior: use :func:`vae_teach.hierarchical.kl_per_layer` there.
    Accumulated in float64.
    """
    if not hasattr(model, "to_mu"):
        raise TypeError("kl_per_unit needs a one-layer VAE (an encoder that outputs q(z|x)); got "
                        f"{type(model).__name__}")
    _check_images("images", images)
    was = model.training
    model.eval()
    dev = model_device(model)
    total = None
    for xb in _data.batches(images, integer("batch_size", batch_size, minimum=1), shuffle=False):
        mu, logvar = (t.double() for t in model.encode(xb.to(dev)))
        s = kl_per_dimension(mu, logvar, prior_mu, prior_logvar).double().sum(0).cpu()
        total = s if total is None else total + s
    model.train(was)
    return (total / images.shape[0]).float()


@torch.no_grad()
def mutual_information(model, images: torch.Tensor, *, seed: int = 0, chunk: int = 100) -> float:
    """Estimate of I_q(x; z), the mutual information between x and z under q(x, z) = p_data(x) q(z|x), nats.

    I_q = E_x E_{q(z|x)}[ log q(z|x) - log q(z) ], with the aggregate posterior q(z) = (1/N) sum_m q(z|x_m)
    over the N ``images`` (the estimator of He et al., 2019, "Lagging inference networks"): one
    z_n ~ q(z|x_n) per image and

        I ~= (1/N) sum_n [ log q(z_n|x_n) - log (1/N) sum_m q(z_n|x_m) ].

    It lies in [0, log N]: a collapsed encoder (q(z|x) the same for every x) gives 0; pass enough
    images that log N is well above the value (chapter 12). O(N^2) densities, ``chunk`` rows at a time.
    """
    if not hasattr(model, "to_mu"):
        raise TypeError(f"mutual_information needs a one-layer VAE (q(z|x) Gaussian); got {type(model).__name__}")
    _check_images("images", images)
    n = images.shape[0]
    if n < 2:
        raise ValueError(f"mutual_information needs at least 2 images (an aggregate posterior), got {n}")
    was = model.training
    model.eval()
    dev = model_device(model)
    enc = [model.encode(xb.to(dev)) for xb in _data.batches(images, 1000, shuffle=False)]
    mu, logvar = (torch.cat(t).double().cpu() for t in zip(*enc))
    model.train(was)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = mu + (0.5 * logvar).exp() * eps
    total = 0.0
    for i in range(0, n, integer("chunk", chunk, minimum=1)):
        zc = z[i:i + chunk]
        log_q_all = gaussian_log_density(zc.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # [c, N]
        log_q_own = log_q_all[torch.arange(zc.shape[0]), torch.arange(i, i + zc.shape[0])]
        total += float((log_q_own - (torch.logsumexp(log_q_all, dim=1) - math.log(n))).sum())
    return total / n


def informative_units(model, images: torch.Tensor, threshold: float = INFORMATIVE_NATS, **kwargs) -> tuple[int, torch.Tensor]:
    """Count the units whose rate R_u (``kl_per_unit``) exceeds ``threshold`` nats (chapter 7).

    Returns ``(count, rate per unit [D])``. Unlike ``active_units``' variance of the posterior mean, this
    asks how much the unit costs, which bounds how much it can carry: a unit with R_u < 0.1 nats
    carries less than 0.1 nats (0.14 bits) about x, so its posterior is close to the prior for every image.
    """
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold is a rate in nats, a finite number >= 0; got {threshold!r}")
    rates = kl_per_unit(model, images, **kwargs)
    return int((rates > threshold).sum()), rates
