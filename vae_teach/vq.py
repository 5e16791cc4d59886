"""Discrete latents: the vector-quantized VAE (VQ-VAE) of van den Oord, Vinyals & Kavukcuoglu (2017), chapter 16.

The encoder maps an image to a grid of vectors z_e [N, D, 7, 7]; each vector is replaced by its
nearest code in a codebook e_1..e_K (squared Euclidean distance),

    k(n, i) = argmin_k || z_e(n, i) - e_k ||^2,     z_q(n, i) = e_{k(n, i)},

and the decoder sees z_q. The argmin has no gradient, so the *straight-through* estimator copies the
decoder's gradient onto the encoder output: ``z = z_e + (z_q - z_e).detach()`` equals z_q in the forward
pass and has d z / d z_e = I in the backward pass. The objective per image (sums over pixels, grid
positions and code dimensions; mean over images; sg = stop-gradient):

    L = -log p(x | z_q) + || sg[z_e] - e ||^2 + beta * || z_e - sg[e] ||^2      (beta = 0.25 in the paper)

The codebook loss (2nd term) moves only the codes, each towards the encoder outputs assigned to it
(its gradient 2 (e_k - z_e) vanishes at their mean, the k-means centroid); the commitment loss (3rd) moves
only the encoder, keeping z_e near its code. With a uniform prior over the K codes the posterior is one-hot
and KL(q || p) = H W log K, a constant (reported in the ``kl`` slot, so ``recon + kl`` is the negative ELBO).

Codebook collapse, and the fix used here: *dead-code restarts*. Codes that no encoder output picks
receive no gradient from either loss and stay dead forever; every ``restart_every`` training steps,
each code unused over that window is moved onto a random encoder output of the current batch (a simple form
of Jukebox's random restarts, Dhariwal et al., 2020). Chosen over
EMA updates because it keeps the gradient-trained codebook loss derived above, and over k-means
initialisation because it also revives codes that die later in training (chapter 16 measures it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from .losses import bce, _over_images
from .validate import check_reduction, integer, real_number


def perplexity(counts: torch.Tensor) -> float:
    """exp(H(p)) of the code-usage distribution p_k = counts_k / sum(counts), H in nats (0 log 0 = 0).

    K for uniform usage, 1 when one code takes everything: the effective number of codes in use.
    """
    if not torch.is_tensor(counts) or counts.dim() != 1 or counts.numel() == 0:
        raise ValueError(f"counts must be a 1-d tensor of usage counts, one per code, got "
                         f"{tuple(counts.shape) if torch.is_tensor(counts) else type(counts).__name__}")
    counts = counts.double()
    if bool((counts < 0).any()) or float(counts.sum()) <= 0:
        raise ValueError("counts must be non-negative with a positive total")
    p = counts / counts.sum()
    return float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))


def code_usage(indices: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """How often each of the K codes appears in ``indices`` (any shape of integer codes): ``[K]`` counts."""
    codebook_size = integer("codebook_size", codebook_size, minimum=1)
    _check_indices(indices, codebook_size)
    return torch.bincount(indices.flatten(), minlength=codebook_size)


def _check_indices(indices: torch.Tensor, k: int) -> None:
    if not torch.is_tensor(indices) or indices.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"code indices must be an integer tensor (torch.long), got "
                        f"{indices.dtype if torch.is_tensor(indices) else type(indices).__name__}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= k):
        raise ValueError(f"code indices must lie in 0..{k - 1} (the codebook has K = {k} codes), got values in "
                         f"{int(indices.min())}..{int(indices.max())}")


class Quantized(NamedTuple):
    z: torch.Tensor            # z_e + sg[z_q - z_e]: z_q forward, identity gradient to z_e  [N, D, H, W]
    indices: torch.Tensor      # the nearest code at each position  [N, H, W]
    codebook: torch.Tensor     # || sg[z_e] - e ||^2 per image  [N]
    commitment: torch.Tensor   # || z_e - sg[e] ||^2 per image  [N] (not yet times beta)


class VectorQuantizer(nn.Module):
    """Nearest-code quantization with the straight-through gradient and dead-code restarts (chapter 16).

    codebook_size K, code_dim D; restart_every: training steps between dead-code restarts (0 = never).
    The codebook starts uniform in [-1/K, 1/K] (a common choice in public implementations), small next to
    the encoder's outputs: the setting in which codes die.
    """

    def __init__(self, codebook_size: int, code_dim: int, restart_every: int = 0):
        super().__init__()
        self.codebook_size = integer("codebook_size", codebook_size, minimum=1)
        self.code_dim = integer("code_dim", code_dim, minimum=1)
        self.restart_every = integer("restart_every", restart_every, minimum=0)
        self.codebook = nn.Parameter(torch.empty(codebook_size, code_dim).uniform_(-1 / codebook_size, 1 / codebook_size))
        self.register_buffer("_window_usage", torch.zeros(codebook_size), persistent=False)
        self._steps = 0
        self.restarts = 0  # codes restarted so far (a count, for the chapter)

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """argmin_k ||z_e - e_k||^2 at every position of ``z_e`` [N, D, H, W] -> indices [N, H, W]."""
        self._check(z_e)
        dtype = torch.promote_types(z_e.dtype, torch.float32)  # bf16 -> float32, float64 stays
        flat = z_e.detach().to(dtype).permute(0, 2, 3, 1).reshape(-1, self.code_dim)
        e = self.codebook.detach().to(dtype)
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)  # ||z||^2 - 2 z.e + ||e||^2
        n, _, h, w = z_e.shape
        return d.argmin(dim=1).view(n, h, w)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """The codes e_k at ``indices`` [N, H, W] -> z_q [N, D, H, W]."""
        _check_indices(indices, self.codebook_size)
        if indices.dim() != 3:
            raise ValueError(f"indices must be a code map [N, H, W], got shape {tuple(indices.shape)}")
        return self.codebook[indices].permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        with torch.autocast(z_e.device.type, enabled=False):  # distances and losses in float32 under bf16
            z_e = z_e.to(torch.promote_types(z_e.dtype, self.codebook.dtype))
            indices = self.nearest(z_e)
            z_q = self.lookup(indices)
            codebook = (z_e.detach() - z_q).pow(2).flatten(1).sum(1)
            commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
            z = z_e + (z_q - z_e).detach()  # straight-through: forward z_q, backward identity
        if self.training and torch.is_grad_enabled() and self.restart_every:
            self._restart_dead_codes(z_e.detach(), indices)
        return Quantized(z, indices, codebook, commitment)

    @torch.no_grad()
    def _restart_dead_codes(self, z_e: torch.Tensor, indices: torch.Tensor) -> None:
        """Count usage; every ``restart_every`` steps move each unused code onto a random encoder output."""
        self._window_usage += torch.bincount(indices.flatten(), minlength=self.codebook_size).to(self._window_usage)
        self._steps += 1
        if self._steps % self.restart_every:
            return
        dead = (self._window_usage == 0).nonzero().flatten()
        if dead.numel():
            flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.code_dim)
            pick = torch.randint(flat.shape[0], (dead.numel(),), device=flat.device)
            self.codebook[dead] = flat[pick].to(self.codebook.dtype)
            self.restarts += int(dead.numel())
        self._window_usage.zero_()

    def _check(self, z_e: torch.Tensor) -> None:
        if not torch.is_tensor(z_e) or not z_e.is_floating_point():
            raise TypeError(f"z_e must be a float tensor [N, D, H, W], got "
                            f"{z_e.dtype if torch.is_tensor(z_e) else type(z_e).__name__}")
        if z_e.dim() != 4 or z_e.shape[1] != self.code_dim:
            raise ValueError(f"z_e must have shape [N, D={self.code_dim}, H, W] (D = the code dimension), "
                             f"got {tuple(z_e.shape)}")


@dataclass
class VQConfig:
    """codebook_size K, code_dim D, channels of the two stride-2 convolutions (28 -> 14 -> 7), beta the
    commitment weight, restart_every the dead-code restart window in steps (0 = no fix)."""

    codebook_size: int = 64
    code_dim: int = 16
    channels: tuple = (32, 64)
    beta: float = 0.25
    restart_every: int = 100
    image_shape: tuple = (1, 28, 28)
    decoder: str = "bernoulli"  # p(x|z_q): Bernoulli logits, so the reconstruction term is in nats like chapter 5's

    def __post_init__(self) -> None:
        integer("VQConfig.codebook_size", self.codebook_size, minimum=1)
        integer("VQConfig.code_dim", self.code_dim, minimum=1)
        integer("VQConfig.restart_every", self.restart_every, minimum=0)
        real_number("VQConfig.beta", self.beta, minimum=0.0)
        self.channels, self.image_shape = tuple(self.channels), tuple(self.image_shape)
        if len(self.channels) != 2 or self.image_shape != (1, 28, 28) or self.decoder != "bernoulli":
            raise ValueError(f"VQConfig: channels must be two sizes, image_shape (1, 28, 28) and decoder 'bernoulli'; "
                             f"got {self.channels}, {self.image_shape}, {self.decoder!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class VQTerms(NamedTuple):
    """Per image: loss = recon + codebook + beta * commitment; kl = H W log K (constant, uniform prior)."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor


class VQOutput(NamedTuple):
    x_params: torch.Tensor  # Bernoulli logits [N, 1, 28, 28]
    z_e: torch.Tensor
    quantized: Quantized


class VQVAE(nn.Module):
    """A small conv VQ-VAE for 28 x 28 images: a 7 x 7 map of codes from a K-code codebook (chapter 16).

    The code map carries H W log2 K bits (49 log2 K). ``encode(x)`` gives the code map [N, 7, 7],
    ``decode(indices)`` Bernoulli logits, ``forward(x)`` a :class:`VQOutput`; ``fit`` trains it through
    :meth:`elbo_terms`.
    """

    def __init__(self, cfg: VQConfig | None = None):
        super().__init__()
        self.config = cfg = cfg or VQConfig()
        c1, c2 = cfg.channels
        self.encoder = nn.Sequential(nn.Conv2d(1, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(),
                                     nn.Conv2d(c2, c2, 3, 1, 1), nn.ReLU(), nn.Conv2d(c2, cfg.code_dim, 1))
        self.quantizer = VectorQuantizer(cfg.codebook_size, cfg.code_dim, cfg.restart_every)
        self.decoder = nn.Sequential(nn.Conv2d(cfg.code_dim, c2, 3, 1, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c1, 1, 4, 2, 1))

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise TypeError(f"expected float images [N, 1, 28, 28] in [0, 1], got "
                            f"{x.dtype if torch.is_tensor(x) else type(x).__name__}; divide uint8 pixels by 255")
        if x.dim() != 4 or tuple(x.shape[1:]) != self.config.image_shape:
            raise ValueError(f"expected images of shape [N, 1, 28, 28], got {tuple(x.shape)}")
        return x.to(self.quantizer.codebook.dtype)

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """z_e(x): the encoder output before quantization, [N, D, 7, 7]."""
        return self.encoder(self._check_input(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code map: the nearest code's index at each of the 7 x 7 positions, [N, 7, 7] (torch.long)."""
        return self.quantizer.nearest(self.encode_continuous(x))

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits [N, 1, 28, 28] of p(x | z_q) for a code map ``indices`` [N, 7, 7]."""
        if torch.is_tensor(indices) and indices.dim() == 3 and tuple(indices.shape[1:]) != (7, 7):
            raise ValueError(f"a code map must be [N, 7, 7], got {tuple(indices.shape)}")
        return self.decoder(self.quantizer.lookup(indices))

    def mean_image(self, x_params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x_params)

    def forward(self, x: torch.Tensor) -> VQOutput:
        z_e = self.encode_continuous(x)
        q = self.quantizer(z_e)
        return VQOutput(self.decoder(q.z.to(z_e.dtype)), z_e, q)

    def elbo_terms(self, x: torch.Tensor, *, recon="auto", beta: float = 1.0, prior_mu=0.0, prior_logvar=0.0,
                   reduction: str = "mean") -> VQTerms:
        """The VQ-VAE objective (what ``fit`` minimizes through :func:`vae_teach.losses.loss_terms`):
        loss = -log p(x|z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2, and kl = 49 log K.
        ``fit``'s beta and prior arguments do not apply (the commitment weight is ``VQConfig.beta``)."""
        check_reduction(reduction)
        if recon not in ("auto", "bce"):
            raise ValueError(f"the VQ-VAE has a Bernoulli decoder: recon must be 'auto' or 'bce', got {recon!r}")
        if beta != 1.0 or not (isinstance(prior_mu, (int, float)) and isinstance(prior_logvar, (int, float))
                               and prior_mu == 0.0 and prior_logvar == 0.0):
            raise ValueError("the VQ-VAE has no Gaussian KL term to weight or prior to move: leave beta = 1 and the "
                             "prior at 0; the commitment weight is VQConfig.beta")
        out = self(x)
        rec = bce(out.x_params.float(), x.to(torch.float32), reduction="none")
        q = out.quantized
        h, w = q.indices.shape[1:]
        kl = torch.full_like(rec, h * w * float(torch.log(torch.tensor(float(self.config.codebook_size)))))
        loss = rec + q.codebook + self.config.beta * q.commitment
        return VQTerms(*(_over_images(t, reduction) for t in (loss, rec, kl, q.codebook, q.commitment)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x | z_q(x)]: the mean image decoded from the quantized code map."""
        was = self.training
        self.eval()
        img = torch.sigmoid(self.decode(self.encode(x)))
        self.train(was)
        return img

    @torch.no_grad()
    def sample_from_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Mean images E[x | z_q] for code maps [N, 7, 7] (e.g. drawn from a prior over codes)."""
        was = self.training
        self.eval()
        img = torch.sigmoid(self.decode(indices))
        self.train(was)
        return img

    def bits(self) -> float:
        """Bits in one code map: 49 log2 K."""
        return 49 * float(torch.log2(torch.tensor(float(self.config.codebook_size))))


def build_vqvae(config: VQConfig | dict | None = None, **overrides) -> VQVAE:
    """A VQVAE from a config or its dict (as a zoo spec stores it), with keyword overrides."""
    if isinstance(config, VQConfig):
        config = config.to_dict()
    return VQVAE(VQConfig(**{**(config or {}), **overrides}))
