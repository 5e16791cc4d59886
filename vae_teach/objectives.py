"""Training objectives against posterior collapse: KL warm-up and free bits (chapter 12).

Both change what :func:`vae_teach.train.fit` *minimizes*, not what it *reports*: the History keeps
the true negative ELBO (beta = 1, no clamping) in ``train_nelbo`` / ``test_nelbo`` beside the
training objective in ``train_loss``, so a model trained with a softened KL is still judged on
the real bound.

* **KL warm-up** (Bowman et al., 2016; Sonderby et al., 2016): the KL weight grows linearly from 0
  to its final value ``beta`` over the first T optimizer steps,

      beta_t = beta * min(1, t / T),   t = 0, 1, 2, ... (steps taken before this one),

  so early on the encoder is free to put information into z before the KL term pulls it back.
  ``warmup_epochs=E`` means T = E * (steps per epoch).

* **Free bits** (Kingma et al., 2016, "Improved variational inference with inverse autoregressive
  flow", appendix C.8), one group per latent dimension: with KL_j the KL of dimension j averaged
  over the minibatch M,

      KL_j = (1/|M|) sum_{x in M} KL( q(z_j|x) || p(z_j) ),
      objective = (1/|M|) sum_{x in M} E_q[-log p(x|z)] + beta * sum_j max(KL_j, lambda).

  A dimension whose KL_j is below lambda nats costs a constant lambda: its KL gets no gradient,
  so nothing pushes it further towards the prior (the clamp is on the batch mean, not per image).

Usage: ``fit(model, x, objective=ELBO(warmup_epochs=10))``, ``objective=ELBO(free_bits=0.25)``,
or the plain-data form ``objective={"kind": "elbo", "free_bits": 0.25}`` (what a zoo spec stores).
The importance-weighted objective, ``objective=IWAE(k=5)``, lives in :mod:`vae_teach.iwae`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .iwae import IWAE
from .kl import kl_per_dimension
from .losses import LossTerms, Recon, forward_and_recon, loss_terms
from .validate import integer, real_number


def warmup_beta(step: int, warmup_steps: int, beta: float = 1.0) -> float:
    """beta_t = beta * min(1, t / T) for step t = 0, 1, ... and T = ``warmup_steps`` (T = 0: no warm-up, beta)."""
    step = integer("step", step, minimum=0)
    warmup_steps = integer("warmup_steps", warmup_steps, minimum=0)
    beta = real_number("beta", beta, minimum=0.0)
    if warmup_steps == 0 or step >= warmup_steps:
        return beta
    return beta * step / warmup_steps


def free_bits_kl(kl_per_dim: torch.Tensor, lam: float) -> torch.Tensor:
    """sum_j max(KL_j, lambda), KL_j = mean over the batch of ``kl_per_dim[:, j]`` (Kingma et al., 2016).

    ``kl_per_dim``: ``[N, D]`` (e.g. :func:`vae_teach.kl.kl_per_dimension`); ``lam`` >= 0 in nats.
    Returns a scalar. Dimensions with KL_j < lambda contribute lambda and no gradient.
    """
    lam = real_number("lam (free bits)", lam, minimum=0.0)
    if not torch.is_tensor(kl_per_dim) or kl_per_dim.dim() != 2:
        got = tuple(kl_per_dim.shape) if torch.is_tensor(kl_per_dim) else type(kl_per_dim).__name__
        raise ValueError(f"kl_per_dim must be a [N, D] tensor (one KL per image and latent dimension), got {got}")
    return kl_per_dim.mean(dim=0).clamp(min=lam).sum()


@dataclass(frozen=True)
class ELBO:
    """The negative (beta-)ELBO with optional KL warm-up and free bits; see the module docstring.

    warmup_epochs / warmup_steps: length T of the linear ramp of beta (give at most one; 0 = none).
    ``fit`` counts steps from the first epoch of its history, so continuing a fit continues the ramp.
    free_bits: lambda in nats per latent dimension (0 = none). With both options off the objective
    is exactly :func:`vae_teach.losses.loss_terms`, the same numbers as ``objective=None``.
    """

    warmup_epochs: int = 0
    warmup_steps: int = 0
    free_bits: float = 0.0

    def __post_init__(self) -> None:
        integer("ELBO.warmup_epochs", self.warmup_epochs, minimum=0)
        integer("ELBO.warmup_steps", self.warmup_steps, minimum=0)
        real_number("ELBO.free_bits", self.free_bits, minimum=0.0)
        if self.warmup_epochs and self.warmup_steps:
            raise ValueError(f"give the warm-up in epochs or in steps, not both (got warmup_epochs="
                             f"{self.warmup_epochs}, warmup_steps={self.warmup_steps})")

    def to_dict(self) -> dict:
        return {"kind": "elbo", **asdict(self)}

    def beta_at(self, step: int, steps_per_epoch: int, beta: float = 1.0) -> float:
        """The KL weight of optimizer step ``step`` (0-based, counted over all epochs)."""
        total = self.warmup_steps or self.warmup_epochs * integer("steps_per_epoch", steps_per_epoch, minimum=1)
        return warmup_beta(step, total, beta)

    def train_terms(self, model, x: torch.Tensor, *, step: int, steps_per_epoch: int, recon: Recon = "auto",
                    beta: float = 1.0, prior_mu=0.0, prior_logvar=0.0) -> LossTerms:
        """(objective, recon, kl) of one batch, nats per image; recon and kl are the true, unclamped terms."""
        beta_t = self.beta_at(step, steps_per_epoch, beta)
        if self.free_bits == 0:
            return loss_terms(model, x, recon=recon, beta=beta_t, prior_mu=prior_mu, prior_logvar=prior_logvar)
        if hasattr(model, "elbo_terms"):
            raise TypeError(f"free bits is implemented for one-layer VAEs; {type(model).__name__} has its own ELBO")
        out, rec = forward_and_recon(model, x, recon)
        if out.mu is None:
            raise TypeError("free bits needs a VAE (a KL term to clamp); this model is an autoencoder")
        kl_nd = kl_per_dimension(out.mu, out.logvar, prior_mu, prior_logvar).flatten(1)
        rec_mean = rec.mean()
        loss = rec_mean + beta_t * free_bits_kl(kl_nd, self.free_bits)
        return LossTerms(loss, rec_mean, kl_nd.sum(dim=1).mean())


def resolve_objective(objective):
    """``fit``'s ``objective`` argument as an objective object: None stays None (the plain loss_terms),
    an :class:`ELBO` or :class:`vae_teach.iwae.IWAE` is used as is, a dict ``{"kind": "elbo" | "iwae", ...}``
    is built from its fields."""
    if objective is None or isinstance(objective, (ELBO, IWAE)):
        return objective
    if isinstance(objective, dict):
        fields = dict(objective)
        kind = fields.pop("kind", None)
        kinds = {"elbo": ELBO, "iwae": IWAE}
        if kind not in kinds:
            raise ValueError(f"an objective dict needs kind 'elbo' or 'iwae', got {kind!r}")
        try:
            return kinds[kind](**fields)
        except TypeError as e:
            raise TypeError(f"bad fields for objective kind {kind!r}: {e}") from e
    raise TypeError(f"objective must be None, vae_teach.objectives.ELBO(...), vae_teach.iwae.IWAE(k=...) or a "
                    f"dict like {{'kind': 'iwae', 'k': 5}}, got {type(objective).__name__}")
