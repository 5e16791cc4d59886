"""The conditional VAE: a label y given to both the encoder and the decoder (chapter 15).

Sohn, Lee & Yan (2015); Kingma, Rezende, Mohamed & Welling (2014), model M2 with the label observed.
The generative model is p(z) p(x|z, y) with the prior p(z) = N(0, I) independent of y; the encoder
is q(z|x, y). For each pair (x, y), the same steps as chapter 3, conditioned on y throughout, give the
conditional ELBO:

    log p(x|y) >= E_q(z|x,y)[ log p(x|z, y) ] - KL( q(z|x,y) || p(z) )

Architecture (the reference VAE of chapter 5 with the one-hot label concatenated to its inputs):
    encoder  [x (784), onehot(y) (10)] -> 400 -> ReLU -> (mu, logvar) (20 each)
    decoder  [z (20),  onehot(y) (10)] -> 400 -> ReLU -> 784 Bernoulli logits

Labels are an integer tensor ``[N]`` with values in 0..n_classes-1 (int64 as ``load_mnist`` returns).
Training goes through the package's one loop: ``fit(model, x, xt, train_labels=y, test_labels=yt)``;
:func:`vae_teach.losses.loss_terms` calls this model's :meth:`ConditionalVAE.elbo_terms`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .kl import kl_diag_gaussians
from .losses import LossTerms, _float32, _over_images, bce, check_reduction
from .models import Output, _Base, _mlp, _sizes, reparameterize
from .precision import model_device
from .validate import integer


@dataclass
class ConditionalConfig:
    """Sizes of the conditional VAE; the defaults are chapter 5's 784-400-20 VAE plus a 10-class label."""

    latent_dim: int = 20
    hidden: tuple = (400,)
    n_classes: int = 10
    image_shape: tuple = field(default=(1, 28, 28))
    kind: str = "cvae"
    decoder: str = "bernoulli"  # p(x|z, y); the only one offered

    def __post_init__(self) -> None:
        self.latent_dim = integer("ConditionalConfig.latent_dim", self.latent_dim, minimum=1)
        self.n_classes = integer("ConditionalConfig.n_classes", self.n_classes, minimum=2)
        self.hidden = _sizes("hidden", self.hidden, owner="ConditionalConfig")
        self.image_shape = _sizes("image_shape", self.image_shape, owner="ConditionalConfig", example="(1, 28, 28)")
        if len(self.image_shape) != 3:
            raise ValueError(f"ConditionalConfig.image_shape must be (C, H, W), got {self.image_shape}")
        if self.kind != "cvae" or self.decoder != "bernoulli":
            raise ValueError("ConditionalConfig is the conditional VAE with a Bernoulli decoder: leave kind and decoder")

    def to_dict(self) -> dict:
        return asdict(self)


class ConditionalVAE(nn.Module):
    """q(z|x, y) = N(mu(x, y), diag(exp(logvar(x, y)))), p(z) = N(0, I), p(x|z, y) Bernoulli (chapter 15)."""

    conditional = True  # loss_terms / fit pass it the labels
    _check_input = _Base._check_input  # images [N, 1, 28, 28], float; cast to the model's dtype
    _dtype = _Base._dtype

    def __init__(self, cfg: ConditionalConfig | None = None):
        super().__init__()
        cfg = cfg or ConditionalConfig()
        self.config = cfg
        c, h, w = cfg.image_shape
        pixels, k = c * h * w, cfg.n_classes
        self.encoder = _mlp([pixels + k, *cfg.hidden])
        width = cfg.hidden[-1] if cfg.hidden else pixels + k
        self.to_mu, self.to_logvar = nn.Linear(width, cfg.latent_dim), nn.Linear(width, cfg.latent_dim)
        last = cfg.hidden[0] if cfg.hidden else cfg.latent_dim + k
        self.decoder = nn.Sequential(_mlp([cfg.latent_dim + k, *reversed(cfg.hidden)]), nn.Linear(last, pixels))

    def one_hot(self, labels: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Check ``labels`` (integer tensor ``[N]``, values in 0..n_classes-1) and return their one-hot
        codes ``[N, n_classes]`` in the model's dtype. ``n``, if given, is the number of images they label."""
        k = self.config.n_classes
        if not torch.is_tensor(labels):
            raise TypeError(f"labels must be an integer torch.Tensor of shape [N] with values in 0..{k - 1}, got "
                            f"{type(labels).__name__}; e.g. torch.tensor([3, 7]) or the labels of load_mnist()")
        if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
            raise TypeError(f"labels must be integers (class indices 0..{k - 1}), got dtype {labels.dtype}; "
                            "convert with labels.long() if they hold whole numbers")
        if labels.dim() != 1:
            raise ValueError(f"labels must have shape [N] (one class index per image), got {tuple(labels.shape)}; "
                             "pass class indices, not one-hot rows (use labels.argmax(1))")
        if n is not None and labels.shape[0] != n:
            raise ValueError(f"got {labels.shape[0]} labels for {n} images: one label per image")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
            bad = labels[(labels < 0) | (labels >= k)][0]
            raise ValueError(f"labels must lie in 0..{k - 1} ({k} classes), got {int(bad)} "
                             f"(range [{int(labels.min())}, {int(labels.max())}])")
        return F.one_hot(labels.long(), k).to(self._dtype())

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x, y), each ``[N, latent_dim]``: the encoder reads [x, onehot(y)]."""
        x = self._check_input(x)
        h = self.encoder(torch.cat([x.flatten(1), self.one_hot(labels, x.shape[0]).to(x.device)], dim=1))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of p(x|z, y), ``[N, 1, 28, 28]``: the decoder reads [z, onehot(y)]."""
        d = self.config.latent_dim
        if not torch.is_tensor(z) or not z.is_floating_point():
            got = f"dtype {z.dtype}" if torch.is_tensor(z) else type(z).__name__
            raise TypeError(f"expected float latents z of shape [N, {d}], got {got}")
        if z.dim() != 2 or z.shape[1] != d:
            raise ValueError(f"expected latents of shape [N, {d}], got {tuple(z.shape)}")
        y = self.one_hot(labels, z.shape[0]).to(z.device)
        return self.decoder(torch.cat([z.to(self._dtype()), y], dim=1)).view(z.shape[0], *self.config.image_shape)

    def mean_image(self, x_params: torch.Tensor) -> torch.Tensor:
        """E[x|z, y] = sigmoid(logits)."""
        return torch.sigmoid(x_params)

    def forward(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None) -> Output:
        mu, logvar = self.encode(x, labels)
        z = reparameterize(mu, logvar, generator)
        return Output(self.decode(z, labels), z, mu, logvar)

    def elbo_terms(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, recon: str = "auto",
                   beta: float = 1.0, prior_mu: float | torch.Tensor = 0.0, prior_logvar: float | torch.Tensor = 0.0,
                   reduction: str = "mean") -> LossTerms:
        """The negative conditional ELBO, one z ~ q(z|x, y) per image:

        recon = -log p(x|z, y) (BCE, summed over pixels), kl = KL(q(z|x, y) || N(prior_mu, exp(prior_logvar)))
        in closed form, loss = recon + beta * kl; nats per image. What :func:`vae_teach.losses.loss_terms`
        (and so ``fit(..., train_labels=...)``) uses for this model.
        """
        check_reduction(reduction)
        if labels is None:
            raise ValueError("the conditional VAE needs the label of every image: loss_terms(model, x, labels=y), "
                             "or fit(model, x, xt, train_labels=y, test_labels=yt)")
        if recon not in ("auto", "bce"):
            raise ValueError(f"the conditional VAE has a Bernoulli decoder: recon must be 'auto' or 'bce', got {recon!r}")
        out = Output(*(_float32(t) for t in self(x, labels)))  # float32 likelihood and KL under autocast
        rec = bce(out.x_params, x, reduction="none")
        kl = kl_diag_gaussians(out.mu, out.logvar, prior_mu, prior_logvar)
        return LossTerms(*(_over_images(t, reduction) for t in (rec + beta * kl, rec, kl)))

    @torch.no_grad()
    def sample(self, n: int, labels: torch.Tensor | int, generator: torch.Generator | None = None,
               mean: bool = True) -> torch.Tensor:
        """z ~ N(0, I) and x from p(x|z, y): ``labels`` is an int tensor ``[n]`` or one class for all n.

        ``mean=True`` returns E[x|z, y] (the pictures); else a Bernoulli draw. z is drawn on the CPU
        (the same samples on every device); the images are returned on the CPU.
        """
        n = integer("n", n, minimum=1)
        if isinstance(labels, int) and not isinstance(labels, bool):
            labels = torch.full((n,), labels, dtype=torch.long)
        self.one_hot(labels, n)  # the checks, before any random number is drawn
        was = self.training
        self.eval()
        dev = model_device(self)
        z = torch.randn(n, self.config.latent_dim, generator=generator)
        p = torch.sigmoid(self.decode(z.to(dev), labels.to(dev))).cpu().float()
        self.train(was)
        return p if mean else torch.bernoulli(p, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """E[x|z, y] at z = the mean of q(z|x, y) (no sampling). Pass other labels than x's own to
        redraw the same style as another class (the chapter's style transfer)."""
        was = self.training
        self.eval()
        dev = model_device(self)
        mu, _ = self.encode(x.to(dev), labels.to(dev) if torch.is_tensor(labels) else labels)
        img = torch.sigmoid(self.decode(mu, labels.to(dev))).to(x.device)
        self.train(was)
        return img


def build_cvae(config: ConditionalConfig | dict | None = None, **overrides) -> ConditionalVAE:
    """``build_cvae()`` is the 784+10 -> 400 -> 20 / 20+10 -> 400 -> 784 conditional VAE; overrides change sizes."""
    if isinstance(config, ConditionalConfig):
        config = config.to_dict()
    return ConditionalVAE(ConditionalConfig(**{**(config or {}), **overrides}))

