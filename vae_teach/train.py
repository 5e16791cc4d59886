"""The training engine: one ``fit`` for autoencoders and VAEs, checkpoints (chapter 5).

Data stay in memory; each epoch indexes a seeded permutation (see :func:`vae_teach.data.batches`).
The objective is :func:`vae_teach.losses.loss_terms`: negative ELBO (recon + beta * KL) for a
VAE, the reconstruction term for an AE, in nats per image (sum over pixels, mean over images).

A non-finite loss stops training with :class:`TrainingDiverged`, naming the epoch and step; the
model is restored to the parameters of its last finite step and the history so far is kept on
the exception (``err.history``), so nothing trained is lost.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import data as _data
from ._progress import progress
from .losses import Recon, loss_terms
from .models import ModelConfig, build_model
from .precision import autocast, model_device, resolve_precision

CHECKPOINT_VERSION = 1


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. ``history`` holds the epochs completed before it."""

    def __init__(self, message: str, epoch: int, step: int, history: "History"):
        super().__init__(message)
        self.epoch, self.step, self.history = epoch, step, history


@dataclass
class History:
    """Per-epoch means, in nats per image: loss = recon + beta * kl (kl = 0 for an AE)."""

    train_loss: list = field(default_factory=list)
    train_recon: list = field(default_factory=list)
    train_kl: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_recon: list = field(default_factory=list)
    test_kl: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    precision: str = "fp32"  # of the latest fit call: "fp32" or "bf16" (autocast forward pass)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return asdict(self)

    def __repr__(self) -> str:
        if not self.train_loss:
            return "History(empty)"
        last = f"train {self.train_loss[-1]:.2f}"
        if self.test_loss:
            last += f", test {self.test_loss[-1]:.2f}"
        return f"History({self.epochs} epochs, last: {last} nats/image)"


def _check_images(name: str, x) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of images [N, 1, 28, 28], got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}; divide uint8 pixels by 255")


@torch.no_grad()
def evaluate_terms(model, images: torch.Tensor, *, recon: Recon = "auto", beta: float = 1.0,
                   prior_mu: float = 0.0, prior_logvar: float = 0.0, batch_size: int = 1000,
                   seed: int = 0) -> tuple[float, float, float]:
    """(loss, recon, kl) in nats per image over ``images``, one posterior sample per image, eval mode.

    Always float32 (no autocast), on the model's device: batches are moved there one at a time.
    """
    was = model.training
    model.eval()
    dev = model_device(model)
    totals = torch.zeros(3, dtype=torch.float64, device=dev)
    # The one z-sample per image is the same every call; the caller's random stream is left as it was.
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for xb in _data.batches(images, batch_size, shuffle=False):
            t = loss_terms(model, xb.to(dev), recon=recon, beta=beta, prior_mu=prior_mu,
                           prior_logvar=prior_logvar, reduction="none")
            totals += torch.stack([t.loss.sum(), t.recon.sum(), t.kl.sum()]).double()
    model.train(was)
    n = images.shape[0]
    return tuple(float(v) / n for v in totals.cpu())


def make_adam(params, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam (Kingma & Ba, 2015) with its update fused into one kernel when the parameters allow it.

    Same algorithm and hyper-parameters as ``torch.optim.Adam``'s default loop; the fused kernel
    reads and writes each parameter once per step instead of once per elementwise operation,
    which on a CPU is a large share of a small model's step (see BENCHMARKS.md).
    """
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def fit(model, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *,
        epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.0,
        seed: int = 0, recon: Recon = "auto", beta: float = 1.0, prior_mu: float = 0.0,
        prior_logvar: float = 0.0, binarize: str | None = None, history: History | None = None,
        callback=None, desc: str = "", precision: str = "fp32", device: str | torch.device | None = None
        ) -> History:
    """Train ``model`` with Adam and return its :class:`History`.

    recon / beta / prior_*: the objective (see :func:`vae_teach.losses.loss_terms`).
    binarize: None (continuous data), or "dynamic" (resample x ~ Bernoulli(pixels) per batch).
    Evaluates on ``test_images`` after every epoch. ``callback(epoch, model, history)`` runs after each;
    if it returns True, training stops there (e.g. once a target test loss is reached).
    Pass a previous ``history`` to continue training (its lists are extended).

    precision: "fp32" (the default: the book's numbers, identical on every machine), "bf16"
    (autocast forward pass, fp32 weights, optimizer state and loss; see :mod:`vae_teach.precision`)
    or "auto" (bf16 where the hardware multiplies bf16 natively, else fp32); ``history.precision``
    says which ran. Training runs on the model's device (move it with ``model.to(...)``); the data
    are moved there once. ``device``, if given, must be that device.
    """
    _check_images("train_images", train_images)
    if test_images is not None:
        _check_images("test_images", test_images)
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}")
    if binarize not in (None, "dynamic"):
        raise ValueError(f"binarize must be None or 'dynamic', got {binarize!r}")
    dev = model_device(model)
    if device is not None and torch.device(device) != dev and not (
            torch.device(device).type == dev.type == "cuda" and torch.device(device).index is None):
        raise ValueError(f"device={str(device)!r} but the model's parameters are on {dev}; move the model "
                         f"first (model.to({str(device)!r})) or leave device=None to train where the model is")
    prec = resolve_precision(precision, dev)
    train_images = train_images.to(dev)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)  # the batch order: the same on every device
    g_dev = g if dev.type == "cpu" else torch.Generator(device=dev).manual_seed(seed)
    params = [p for p in model.parameters()]
    opt = make_adam(params, lr=lr, weight_decay=weight_decay)
    hist = history if history is not None else History()
    hist.precision = prec
    objective = dict(recon=recon, beta=beta, prior_mu=prior_mu, prior_logvar=prior_logvar)
    n_steps = math.ceil(train_images.shape[0] / batch_size)
    start_epoch = hist.epochs
    snapshot = [torch.empty_like(p) for p in params]  # filled in place each step: no allocation
    have_snapshot = False
    for epoch in progress(range(start_epoch + 1, start_epoch + epochs + 1), total=epochs, desc=desc or "epochs",
                          leave=False):
        t0 = time.perf_counter()
        model.train()
        sums = torch.zeros(3, dtype=torch.float64, device=dev)
        seen = 0
        for step, xb in enumerate(progress(_data.batches(train_images, batch_size, generator=g),
                                           total=n_steps, desc=f"epoch {epoch}"), start=1):
            if binarize == "dynamic":
                xb = torch.bernoulli(xb, generator=g_dev)
            with autocast(prec, dev):
                t = loss_terms(model, xb, **objective)
            if not torch.isfinite(t.loss):
                if have_snapshot:
                    with torch.no_grad():
                        for p, s in zip(params, snapshot):
                            p.copy_(s)
                raise TrainingDiverged(
                    f"training diverged: the loss became {float(t.loss.detach())} at epoch {epoch}, step {step} "
                    f"(of {n_steps}); lr={lr:g} is probably too high: try lr={lr / 10:g}. The model was "
                    f"restored to its last finite step and the history of the {hist.epochs} completed "
                    "epoch(s) is kept on this exception (err.history).", epoch, step, hist)
            opt.zero_grad(set_to_none=True)
            t.loss.backward()
            # Keep the parameters that produced this finite loss, to restore if the next one is not.
            with torch.no_grad():
                for s, p in zip(snapshot, params):
                    s.copy_(p)
            have_snapshot = True
            opt.step()
            sums += torch.stack([t.loss.detach(), t.recon.detach(), t.kl.detach()]).double() * xb.shape[0]
            seen += xb.shape[0]
        tr = (sums / seen).cpu().tolist()
        hist.train_loss.append(tr[0]); hist.train_recon.append(tr[1]); hist.train_kl.append(tr[2])
        if test_images is not None:
            te_x = test_images
            if binarize == "dynamic":
                te_x = _data.binarize_static(test_images, seed=seed)
            te = evaluate_terms(model, te_x, **objective)
            hist.test_loss.append(te[0]); hist.test_recon.append(te[1]); hist.test_kl.append(te[2])
        hist.seconds.append(time.perf_counter() - t0)
        if callback is not None and callback(epoch, model, hist) is True:
            break
    model.eval()
    return hist


def save_checkpoint(path: str | os.PathLike, model, history: History | None = None, **extra) -> Path:
    """Save the model's config, weights and (optionally) history and extra metadata to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"version": CHECKPOINT_VERSION, "config": model.config.to_dict(),
                "state_dict": model.state_dict(),
                "history": history.to_dict() if history is not None else None, "extra": extra}, path)
    return path


def load_checkpoint(path: str | os.PathLike):
    """Rebuild a model from :func:`save_checkpoint`'s file. Returns ``(model, history, extra)``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or not a torch file
        raise ValueError(f"{path} is not a readable vae_teach checkpoint ({type(e).__name__}: {e}); "
                         "the file may be corrupt or truncated") from None
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is a torch file but not a vae_teach checkpoint (no 'config'/'state_dict')")
    model = build_model(ModelConfig(**blob["config"]))
    model.load_state_dict(blob["state_dict"])
    model.eval()
    hist = History(**blob["history"]) if blob.get("history") else None
    return model, hist, blob.get("extra", {})


def clone_model(model):
    """A deep copy (same config and weights), e.g. to keep a model before an experiment."""
    return copy.deepcopy(model)
