"""A VAE with two stochastic layers: Burda, Grosse & Salakhutdinov (2016)'s architecture (chapter 14).

A module of its own rather than part of :mod:`vae_teach.models`: that file is at its ~300-line
budget, and this model has a different latent structure (two layers, a learned conditional
prior), so it brings its own ELBO and IWAE log-weights instead of the one-layer ``encode``/``decode``.

Inference (bottom-up)          q(z1|x) q(z2|z1)
    x (784) -> 200 -> 200 -> z1 (100) -> 100 -> 100 -> z2 (50)
Generative (top-down)          p(z2) p(z1|z2) p(x|z1)
    z2 ~ N(0, I) -> 100 -> 100 -> z1 (100) -> 200 -> 200 -> x (784), Bernoulli
Every deterministic layer is tanh, as in Burda et al. (``activation="relu"``: ReLU, what the zoo's ``hvae_mnist``
uses, like the one-layer models it is compared with); each Gaussian has a diagonal covariance,
its mean and log-variance two linear maps of the last hidden layer.

The ELBO, with z1 ~ q(z1|x) and z2 ~ q(z2|z1) (one sample each):

    -ELBO = E_q[-log p(x|z1)]                        (recon)
          + E_q[log q(z1|x) - log p(z1|z2)]         (kl_z1, Monte Carlo: p(z1|z2) depends on the sample z2)
          + E_q(z1|x)[KL(q(z2|z1) || N(0, I))]      (kl_z2, closed form given z1)

kl_z1 + kl_z2 = KL(q(z1, z2|x) || p(z1, z2)). All terms in nats per image (sum over pixels and
latent dimensions, mean over images); binarized MNIST.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from . import data as _data
from .iwae import LogWeights
from .kl import gaussian_log_density, kl_diag_gaussians
from .losses import _over_images, bce, check_reduction
from .models import _Base, _mlp, _sizes, reparameterize
from .precision import model_device
from .validate import integer


@dataclass
class HierarchicalConfig:
    """Layer sizes; the defaults are Burda et al.'s two-stochastic-layer model (tanh, Bernoulli x)."""

    hidden1: tuple = (200, 200)   # between x and z1
    latent1: int = 100
    hidden2: tuple = (100, 100)   # between z1 and z2
    latent2: int = 50
    image_shape: tuple = field(default=(1, 28, 28))
    kind: str = "hierarchical"
    decoder: str = "bernoulli"    # p(x|z1); the only one offered
    activation: str = "tanh"      # of every deterministic layer: "tanh" (Burda et al.) or "relu"

    def __post_init__(self) -> None:
        self.hidden1, self.hidden2 = _layer_sizes("hidden1", self.hidden1), _layer_sizes("hidden2", self.hidden2)
        self.latent1 = integer("HierarchicalConfig.latent1", self.latent1, minimum=1)
        self.latent2 = integer("HierarchicalConfig.latent2", self.latent2, minimum=1)
        self.image_shape = _layer_sizes("image_shape", self.image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"HierarchicalConfig.image_shape must be (C, H, W), got {self.image_shape}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"HierarchicalConfig.activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if self.kind != "hierarchical" or self.decoder != "bernoulli":
            raise ValueError("HierarchicalConfig is the two-layer VAE with a Bernoulli decoder: leave kind and decoder")

    def to_dict(self) -> dict:
        return asdict(self)


_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def _layer_sizes(name: str, value) -> tuple:
    """A tuple of positive whole numbers, or a clear error naming the field (models' one check)."""
    return _sizes(name, value, owner="HierarchicalConfig", example="(200, 200)")


class HierarchicalOutput(NamedTuple):
    x_params: torch.Tensor   # Bernoulli logits [N, 1, 28, 28]
    z1: torch.Tensor
    z2: torch.Tensor
    mu1: torch.Tensor        # q(z1|x)
    logvar1: torch.Tensor
    mu2: torch.Tensor        # q(z2|z1)
    logvar2: torch.Tensor
    prior_mu1: torch.Tensor  # p(z1|z2)
    prior_logvar1: torch.Tensor


class HierarchicalTerms(NamedTuple):
    """loss = recon + beta * kl, kl = kl_z1 + kl_z2; nats per image (or per image [N])."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    kl_z1: torch.Tensor
    kl_z2: torch.Tensor


class _GaussianLayer(nn.Module):
    """inputs -> MLP (tanh or ReLU) -> (mean, log-variance) of a diagonal Gaussian."""

    def __init__(self, n_in: int, hidden: tuple, n_out: int, activation: type[nn.Module] = nn.Tanh):
        super().__init__()
        self.body = _mlp([n_in, *hidden], activation=activation)
        width = hidden[-1] if hidden else n_in
        self.mu, self.logvar = nn.Linear(width, n_out), nn.Linear(width, n_out)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(h)
        return self.mu(h), self.logvar(h)


class HierarchicalVAE(nn.Module):
    """Two stochastic layers, q(z1|x) q(z2|z1) and p(z2) p(z1|z2) p(x|z1); see the module docstring."""

    _check_input = _Base._check_input  # images [N, 1, 28, 28], float; cast to the model's dtype
    _dtype = _Base._dtype

    def __init__(self, cfg: HierarchicalConfig | None = None):
        super().__init__()
        cfg = cfg or HierarchicalConfig()
        self.config = cfg
        c, h, w = cfg.image_shape
        act = _ACTIVATIONS[cfg.activation]
        self.q_z1 = _GaussianLayer(c * h * w, cfg.hidden1, cfg.latent1, act)
        self.q_z2 = _GaussianLayer(cfg.latent1, cfg.hidden2, cfg.latent2, act)
        self.p_z1 = _GaussianLayer(cfg.latent2, tuple(reversed(cfg.hidden2)), cfg.latent1, act)
        self.p_x = nn.Sequential(_mlp([cfg.latent1, *reversed(cfg.hidden1)], activation=act),
                                 nn.Linear(cfg.hidden1[0] if cfg.hidden1 else cfg.latent1, c * h * w))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu1, logvar1) of q(z1|x), each ``[N, latent1]`` (what :func:`vae_teach.evaluate.active_units` reads)."""
        return self.q_z1(self._check_input(x).flatten(1))

    def encode_top(self, z1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu2, logvar2) of q(z2|z1), each ``[N, latent2]``."""
        return self.q_z2(z1)

    def prior_z1(self, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of the learned conditional prior p(z1|z2), each ``[N, latent1]``."""
        return self.p_z1(z2)

    def decode(self, z1: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z1), ``[N, 1, 28, 28]``."""
        return self.p_x(z1).view(z1.shape[0], *self.config.image_shape)

    def mean_image(self, x_params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x_params)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> HierarchicalOutput:
        mu1, logvar1 = self.encode(x)
        z1 = reparameterize(mu1, logvar1, generator)
        mu2, logvar2 = self.encode_top(z1)
        z2 = reparameterize(mu2, logvar2, generator)
        pm1, plv1 = self.prior_z1(z2)
        return HierarchicalOutput(self.decode(z1), z1, z2, mu1, logvar1, mu2, logvar2, pm1, plv1)

    def elbo_terms(self, x: torch.Tensor, *, recon="auto", beta: float = 1.0, prior_mu=0.0, prior_logvar=0.0,
                   reduction: str = "mean") -> HierarchicalTerms:
        """The negative ELBO and its per-layer KL terms, one sample of (z1, z2) per image.

        recon = -log p(x|z1), kl_z1 = log q(z1|x) - log p(z1|z2), kl_z2 = KL(q(z2|z1) || N(0, I)),
        loss = recon + beta * (kl_z1 + kl_z2). What :func:`vae_teach.losses.loss_terms` (and so ``fit``)
        uses for this model.
        """
        check_reduction(reduction)
        if recon not in ("auto", "bce"):
            raise ValueError(f"the two-layer VAE has a Bernoulli decoder: recon must be 'auto' or 'bce', got {recon!r}")
        if not (isinstance(prior_mu, (int, float)) and isinstance(prior_logvar, (int, float))
                and prior_mu == 0.0 and prior_logvar == 0.0):
            raise ValueError("the two-layer VAE's top prior is N(0, I): prior_mu and prior_logvar must stay 0")
        o = HierarchicalOutput(*(t.float() for t in self(x)))  # float32 likelihood and KL under autocast
        rec = bce(o.x_params, x, reduction="none")
        kl1 = gaussian_log_density(o.z1, o.mu1, o.logvar1) - gaussian_log_density(o.z1, o.prior_mu1, o.prior_logvar1)
        kl2 = kl_diag_gaussians(o.mu2, o.logvar2)
        return HierarchicalTerms(*(_over_images(t, reduction) for t in (rec + beta * (kl1 + kl2), rec, kl1 + kl2,
                                                                          kl1, kl2)))

    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> LogWeights:
        """k importance log-weights per image, ``[k, N]``: for (z1, z2) ~ q(z1|x) q(z2|z1),

        log w = log p(x|z1) + log p(z1|z2) + log N(z2; 0, I) - log q(z1|x) - log q(z2|z1).

        The noise is drawn on the CPU (eps1 for all k, then eps2), the same on every device.
        """
        k = integer("k", k, minimum=1)
        mu1, logvar1 = (t.float() for t in self.encode(x))
        n, dev = mu1.shape[0], mu1.device
        eps1 = torch.randn((k, n, self.config.latent1), generator=generator).to(dev)
        eps2 = torch.randn((k * n, self.config.latent2), generator=generator).to(dev)
        z1 = mu1 + (0.5 * logvar1).exp() * eps1                                  # [k, n, D1]
        log_q1 = gaussian_log_density(z1, mu1, logvar1).reshape(k * n)
        z1 = z1.reshape(k * n, -1)
        mu2, logvar2 = (t.float() for t in self.encode_top(z1))
        z2 = mu2 + (0.5 * logvar2).exp() * eps2
        log_q2 = gaussian_log_density(z2, mu2, logvar2)
        log_p2 = gaussian_log_density(z2, torch.zeros_like(z2), torch.zeros_like(z2))
        pm1, plv1 = (t.float() for t in self.prior_z1(z2))
        log_p1 = gaussian_log_density(z1, pm1, plv1)
        x_rep = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
        log_px = -bce(self.decode(z1).float(), x_rep, reduction="none")
        return LogWeights((log_px + log_p1 + log_p2 - log_q1 - log_q2).view(k, n), log_px.view(k, n))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mean: bool = True) -> torch.Tensor:
        """z2 ~ N(0, I), z1 ~ p(z1|z2), x from p(x|z1); ``mean=True`` returns E[x|z1]. On the CPU."""
        was = self.training
        self.eval()
        dev = model_device(self)
        z2 = torch.randn(n, self.config.latent2, generator=generator)
        pm1, plv1 = (t.cpu() for t in self.prior_z1(z2.to(dev)))
        z1 = pm1 + (0.5 * plv1).exp() * torch.randn(pm1.shape, generator=generator)
        p = torch.sigmoid(self.decode(z1.to(dev))).cpu()
        self.train(was)
        return p if mean else torch.bernoulli(p, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x|z1] at z1 = the mean of q(z1|x) (no sampling), for pictures."""
        was = self.training
        self.eval()
        img = torch.sigmoid(self.decode(self.encode(x.to(model_device(self)))[0]))
        self.train(was)
        return img.to(x.device)


def build_hierarchical(config: HierarchicalConfig | dict | None = None, **overrides) -> HierarchicalVAE:
    """``build_hierarchical()`` is Burda et al.'s 784-200-200-100 / 100-100-50 model; keyword overrides change sizes."""
    if isinstance(config, HierarchicalConfig):
        config = config.to_dict()
    return HierarchicalVAE(HierarchicalConfig(**{**(config or {}), **overrides}))


@torch.no_grad()
def kl_per_layer(model: HierarchicalVAE, images: torch.Tensor, *, batch_size: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """(kl_z1, kl_z2) in nats per image over ``images``, one (z1, z2) sample per image, eval mode:
    how much of the ELBO's KL each stochastic layer carries (chapter 14). Their sum is evaluate_terms' kl."""
    was = model.training
    model.eval()
    dev = model_device(model)
    totals = torch.zeros(2, dtype=torch.float64)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for xb in _data.batches(images, integer("batch_size", batch_size, minimum=1), shuffle=False):
            t = model.elbo_terms(xb.to(dev), reduction="sum")
            totals += torch.stack([t.kl_z1, t.kl_z2]).double().cpu()
    model.train(was)
    return tuple(float(v) / images.shape[0] for v in totals)


@torch.no_grad()
def active_units_top(model: HierarchicalVAE, images: torch.Tensor, threshold: float = 0.01, n_samples: int = 100,
                     seed: int = 0) -> tuple[int, torch.Tensor]:
    """Active units of z2: A_u = Var_x( E_q[z2_u | x] ) > threshold, Burda et al.'s measure, with
    E_q[z2|x] = E_{z1 ~ q(z1|x)}[ mu2(z1) ] estimated from ``n_samples`` draws of z1 per image.
    (For z1, :func:`vae_teach.evaluate.active_units` reads the mean of q(z1|x) directly.)"""
    if images.shape[0] < 2:
        raise ValueError(f"active_units_top needs at least 2 images (a variance over images), got {images.shape[0]}")
    n_samples = integer("n_samples", n_samples, minimum=1)
    model.eval()
    dev = model_device(model)
    g = torch.Generator().manual_seed(seed)
    means = []
    for xb in _data.batches(images, 500, shuffle=False):
        mu1, logvar1 = model.encode(xb.to(dev))
        eps = torch.randn((n_samples, *mu1.shape), generator=g).to(dev)
        z1 = (mu1 + (0.5 * logvar1).exp() * eps).reshape(-1, mu1.shape[1])
        means.append(model.encode_top(z1)[0].view(n_samples, mu1.shape[0], -1).mean(0).cpu())
    var = torch.cat(means).var(dim=0)
    return int((var > threshold).sum()), var
