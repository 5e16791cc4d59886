"""Models: autoencoders and VAEs with MLP or convolutional encoders/decoders (chapters 1, 5, 7).

Every model exposes

* ``encode(x)``: AE -> code ``z [N, D]``; VAE -> ``(mu, logvar)`` of q(z|x) = N(mu, diag(exp(logvar)))
* ``decode(z)``: the parameters of p(x|z): Bernoulli logits ``[N, 1, 28, 28]``, or for a Gaussian
  decoder a pair ``(mean, logvar)`` of that shape (``mean`` in (0, 1) through a sigmoid)
* ``forward(x)``: an :class:`Output` with ``x_params``, ``z``, ``mu``, ``logvar`` (None for an AE)

Inputs must be float images; float64 (or any other float precision) is cast to the model's own
precision, integer pixels (uint8) are refused with a hint to divide by 255.

Hyper-parameters live in :class:`ModelConfig`, so a checkpoint can rebuild its model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Union

import torch
from torch import nn

from .validate import integer, real_number

DecoderOutput = Union[torch.Tensor, tuple]

KINDS = ("ae", "vae")
ARCHS = ("mlp", "conv")
DECODERS = ("bernoulli", "gaussian", "gaussian_learned")
INITS = ("default", "kaiming")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model.

    kind: "ae" or "vae". arch: "mlp" or "conv". hidden: MLP hidden sizes (mirrored in the decoder);
    channels: conv channels (two stride-2 convolutions, 28 -> 14 -> 7). decoder: "bernoulli"
    (logits), "gaussian" (fixed variance exp(decoder_logvar)) or "gaussian_learned" (the decoder
    outputs a per-pixel log-variance too). init: "default" (PyTorch) or "kaiming" (Kaiming normal).
    """

    kind: str = "vae"
    arch: str = "mlp"
    latent_dim: int = 20
    hidden: tuple = (400,)
    channels: tuple = (32, 64)
    decoder: str = "bernoulli"
    decoder_logvar: float = 0.0
    dropout: float = 0.0
    init: str = "default"
    image_shape: tuple = field(default=(1, 28, 28))

    def __post_init__(self) -> None:
        # Sizes are checked here, where they are given, not deep inside nn.Linear / nn.Conv2d.
        self.latent_dim = integer("ModelConfig.latent_dim", self.latent_dim, minimum=1)
        self.hidden = _sizes("hidden", self.hidden)
        self.channels = _sizes("channels", self.channels)
        self.image_shape = _sizes("image_shape", self.image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"ModelConfig.image_shape must be (C, H, W), got {self.image_shape}")
        if self.arch == "conv" and len(self.channels) != 2:
            raise ValueError(f"ModelConfig.channels must be two sizes (c1, c2) for the two stride-2 convolutions "
                             f"of the conv architecture, got {self.channels}")
        if self.arch == "conv" and len(self.hidden) > 1:
            raise ValueError(f"the conv architecture takes at most one hidden size (one linear layer after the "
                             f"convolutions), got hidden={self.hidden}; use hidden=({self.hidden[0]},)")
        self.decoder_logvar = real_number("ModelConfig.decoder_logvar", self.decoder_logvar)
        self.dropout = real_number("ModelConfig.dropout", self.dropout)
        for name, value, allowed in (("kind", self.kind, KINDS), ("arch", self.arch, ARCHS),
                                     ("decoder", self.decoder, DECODERS), ("init", self.init, INITS)):
            if value not in allowed:
                raise ValueError(f"ModelConfig.{name} must be one of {allowed}, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.arch == "conv" and self.image_shape[1:] != (28, 28):
            raise ValueError("the conv architecture expects 28 x 28 images")

    def to_dict(self) -> dict:
        return asdict(self)


def _sizes(name: str, value, owner: str = "ModelConfig", example: str = "(400,)") -> tuple:
    """A tuple of positive whole numbers (layer sizes), or a clear error naming the field of ``owner``."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{owner}.{name} must be a tuple of positive integers, got {type(value).__name__} "
                        f"{value!r}; e.g. {name}={example}")
    return tuple(integer(f"{owner}.{name}[{i}]", v, minimum=1) for i, v in enumerate(value))


class Output(NamedTuple):
    x_params: DecoderOutput
    z: torch.Tensor
    mu: torch.Tensor | None
    logvar: torch.Tensor | None


def _mlp(sizes: list[int], dropout: float = 0.0, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear + activation (+ dropout) per consecutive pair of ``sizes``; shared by every MLP in the package."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x ``[N, C, H, W]`` -> features ``[N, F]`` (MLP or two stride-2 convolutions)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, h, w = cfg.image_shape
        if cfg.arch == "mlp":
            self.body = nn.Sequential(nn.Flatten(), _mlp([c * h * w, *cfg.hidden], cfg.dropout))
            self.out_features = cfg.hidden[-1] if cfg.hidden else c * h * w
        else:
            c1, c2 = cfg.channels
            layers: list[nn.Module] = [nn.Conv2d(c, c1, 4, 2, 1), nn.ReLU(),
                                       nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(), nn.Flatten()]
            feat = c2 * 7 * 7
            if cfg.hidden:
                layers += [nn.Linear(feat, cfg.hidden[0]), nn.ReLU()]
                feat = cfg.hidden[0]
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            self.body = nn.Sequential(*layers)
            self.out_features = feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """z ``[N, D]`` -> pre-activations ``[N, out_channels, H, W]`` (mirror of the encoder)."""

    def __init__(self, cfg: ModelConfig, out_channels: int):
        super().__init__()
        c, h, w = cfg.image_shape
        self.shape = (out_channels, h, w)
        if cfg.arch == "mlp":
            sizes = [cfg.latent_dim, *reversed(cfg.hidden)]
            self.body = nn.Sequential(_mlp(sizes, cfg.dropout),
                                      nn.Linear(sizes[-1], out_channels * h * w))
        else:
            c1, c2 = cfg.channels
            layers: list[nn.Module] = []
            inp = cfg.latent_dim
            if cfg.hidden:
                layers += [nn.Linear(inp, cfg.hidden[0]), nn.ReLU()]
                inp = cfg.hidden[0]
            layers += [nn.Linear(inp, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
                       nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(),
                       nn.ConvTranspose2d(c1, out_channels, 4, 2, 1)]
            self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z).view(z.shape[0], *self.shape)


class _Base(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        learned = cfg.decoder == "gaussian_learned"
        self.decoder = Decoder(cfg, out_channels=2 * cfg.image_shape[0] if learned else cfg.image_shape[0])

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check the images' shape and dtype; float images of another precision are cast to the model's."""
        if not torch.is_tensor(x):
            raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"expected float images in [0, 1], got dtype {x.dtype}; convert with x.float() / 255 "
                            "for uint8 pixels")
        if x.dim() != 4 or tuple(x.shape[1:]) != self.config.image_shape:
            raise ValueError(f"expected images of shape [N, {', '.join(map(str, self.config.image_shape))}], "
                             f"got {tuple(x.shape)}; add the channel dimension with x.unsqueeze(1) "
                             "or reshape flat vectors with x.view(-1, 1, 28, 28)")
        dtype = self._dtype()
        return x if x.dtype == dtype else x.to(dtype)  # e.g. float64 numpy data into a float32 model

    def decode(self, z: torch.Tensor) -> DecoderOutput:
        """Parameters of p(x|z): Bernoulli logits, or ``(mean, logvar)`` for a Gaussian decoder.

        ``z``: float ``[N, D]``; another float precision is cast to the model's.
        """
        if not torch.is_tensor(z) or not z.is_floating_point():
            got = f"dtype {z.dtype}" if torch.is_tensor(z) else type(z).__name__
            raise TypeError(f"expected float latents z of shape [N, {self.config.latent_dim}], got {got}")
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"expected latents of shape [N, {self.config.latent_dim}], got {tuple(z.shape)}")
        h = self.decoder(z.to(self._dtype()))
        cfg = self.config
        if cfg.decoder == "bernoulli":
            return h
        c = cfg.image_shape[0]
        mean = torch.sigmoid(h[:, :c])
        if cfg.decoder == "gaussian_learned":
            # Bound the log-variance so one pixel cannot drive the likelihood to infinity.
            logvar = -7.0 + 9.0 * torch.sigmoid(h[:, c:])
        else:
            logvar = torch.full_like(mean, cfg.decoder_logvar)
        return mean, logvar

    def mean_image(self, x_params: DecoderOutput) -> torch.Tensor:
        """E[x|z] in [0, 1]: sigmoid(logits) for Bernoulli, the mean for a Gaussian decoder."""
        return torch.sigmoid(x_params) if self.config.decoder == "bernoulli" else x_params[0]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean image of p(x|z) at z = encoder mean (no sampling), for pictures."""
        was = self.training
        self.eval()
        out = self(x.to(next(self.parameters()).device))
        z = out.mu if out.mu is not None else out.z
        img = self.mean_image(self.decode(z))
        self.train(was)
        return img.to(x.device)


class AE(_Base):
    """A plain autoencoder: x -> z = f(x) -> x_hat = g(z) (chapter 1)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.to_z = nn.Linear(self.encoder.out_features, cfg.latent_dim)
        _init(self, cfg.init)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check_input(x)
        return self.to_z(self.encoder(x))

    def forward(self, x: torch.Tensor) -> Output:
        z = self.encode(x)
        return Output(self.decode(z), z, None, None)


class VAE(_Base):
    """A variational autoencoder (chapter 5): q(z|x) = N(mu(x), diag(sigma^2(x))), p(z), p(x|z)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.to_mu = nn.Linear(self.encoder.out_features, cfg.latent_dim)
        self.to_logvar = nn.Linear(self.encoder.out_features, cfg.latent_dim)
        _init(self, cfg.init)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(mu, logvar)``, each ``[N, D]``; logvar is log sigma^2."""
        x = self._check_input(x)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Output:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return Output(self.decode(z), z, mu, logvar)

    @torch.no_grad()
    def sample(self, n: int, prior_mu: float = 0.0, prior_logvar: float = 0.0,
               generator: torch.Generator | None = None, mean: bool = True) -> torch.Tensor:
        """Draw z ~ N(prior_mu, exp(prior_logvar)) and decode; ``mean=True`` returns E[x|z]."""
        was = self.training
        self.eval()
        # z is drawn on the CPU (the same samples on every device), decoded where the model is,
        # and returned on the CPU, ready for plots.
        dev = next(self.parameters()).device
        z = prior_mu + math.exp(0.5 * prior_logvar) * torch.randn(n, self.config.latent_dim, generator=generator)
        params = self.decode(z.to(dev))
        params = params.cpu() if torch.is_tensor(params) else tuple(t.cpu() for t in params)
        if mean:
            out = self.mean_image(params)
        elif self.config.decoder == "bernoulli":
            out = torch.bernoulli(torch.sigmoid(params), generator=generator)
        else:
            m, lv = params
            out = m + (0.5 * lv).exp() * torch.randn(m.shape, generator=generator)
        self.train(was)
        return out


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2) (chapter 4).

    The randomness lives in eps, so z is a differentiable function of (mu, logvar).
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def _init(model: nn.Module, scheme: str) -> None:
    if scheme == "default":
        return
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def build_model(config: ModelConfig | dict | None = None, **overrides) -> AE | VAE:
    """Build an AE or VAE from a config (or a dict, as stored in a checkpoint), with keyword overrides.

    ``build_model(latent_dim=2)`` is the reference MLP VAE 784-400-2 with a Bernoulli decoder.
    """
    if config is None:
        config = ModelConfig(**overrides)
    elif isinstance(config, dict):
        config = ModelConfig(**{**config, **overrides})
    elif overrides:
        config = ModelConfig(**{**config.to_dict(), **overrides})
    return VAE(config) if config.kind == "vae" else AE(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
