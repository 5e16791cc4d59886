"""The training engine: one ``fit`` for autoencoders and VAEs (chapter 5). Checkpoints: :mod:`vae_teach.checkpoints`.

Data stay in memory; each epoch indexes a seeded permutation (see :func:`vae_teach.data.batches`).
The objective is :func:`vae_teach.losses.loss_terms`: negative ELBO (recon + beta * KL) for a
VAE, the reconstruction term for an AE, in nats per image (sum over pixels, mean over images).

A non-finite loss stops training with :class:`TrainingDiverged`, naming the epoch and step; the
model is restored to the parameters of its last finite step and the history so far is kept on
the exception (``err.history``), so nothing trained is lost.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import time

import numpy as np
import torch

from . import data as _data
from ._progress import progress
from .losses import Recon, loss_terms
from .objectives import resolve_objective
from .checkpoints import CHECKPOINT_VERSION, load_checkpoint, save_checkpoint  # noqa: F401 (re-exported)
from .history import History, TrainingDiverged  # noqa: F401 (re-exported: fit's record and its error)
from .precision import autocast, flush_denormals, model_device, resolve_precision
from .validate import finite, integer, real_number

def _check_images(name: str, x) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of images [N, 1, 28, 28], got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [N, C, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}; divide uint8 pixels by 255")
    if x.shape[0] == 0:
        raise ValueError(f"{name} holds 0 images (shape {tuple(x.shape)}); pass at least one image "
                         "(check a slice or a --limit that emptied it)")
    # NaN in the data would otherwise surface as "the loss diverged: lr too high".
    finite(name, x, " in the data itself (not caused by training)")


def _stop_requested(value) -> bool:
    """The callback's answer. None: go on. A bool stops training when true: a Python bool, a
    numpy bool (``np.True_``, what ``np.float64(x) < t`` gives) or a one-element bool tensor / array
    (what ``tensor < t`` gives). Anything else is refused rather than guessed: a returned number or
    list has no clear "stop" meaning, and ``bool([False])`` is True.
    """
    if value is None:
        return False
    is_bool = isinstance(value, (bool, np.bool_)) or (
        (torch.is_tensor(value) or isinstance(value, np.ndarray)) and value.dtype in (torch.bool, np.bool_)
        and (value.numel() if torch.is_tensor(value) else value.size) == 1)
    if not is_bool:
        shape = f" of shape {tuple(value.shape)}" if hasattr(value, "shape") else ""
        raise TypeError(f"callback must return None (go on) or a single bool (True stops training), got "
                        f"{type(value).__name__}{shape}: {value!r:.60}")
    return bool(value)


def _copy_params(dst: list, src: list) -> None:
    with torch.no_grad():
        for d, p in zip(dst, src):
            d.copy_(p)


def _all_finite(tensors: list) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


@torch.no_grad()
def evaluate_terms(model, images: torch.Tensor, *, recon: Recon = "auto", beta: float = 1.0,
                   prior_mu: float = 0.0, prior_logvar: float = 0.0, batch_size: int = 1000,
                   seed: int = 0, labels: torch.Tensor | None = None) -> tuple[float, float, float]:
    """(loss, recon, kl) in nats per image over ``images``, one posterior sample per image, eval mode.

    Always float32 (no autocast), on the model's device: batches are moved there one at a time.
    ``labels``: the images' classes ``[N]``, for a conditional model (chapter 15).
    """
    _check_images("images", images)
    batch_size = integer("batch_size", batch_size, minimum=1)
    _check_labels("labels", labels, images)
    was = model.training
    model.eval()
    dev = model_device(model)
    totals = torch.zeros(3, dtype=torch.float64, device=dev)
    # The one z-sample per image is the same every call; the caller's random stream is left as it was.
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for xb, yb in _with_labels(_data.batches(images, batch_size, shuffle=False, labels=labels), labels):
            t = loss_terms(model, xb.to(dev), recon=recon, beta=beta, prior_mu=prior_mu,
                           prior_logvar=prior_logvar, reduction="none", labels=_to(yb, dev))
            totals += torch.stack([t.loss.sum(), t.recon.sum(), t.kl.sum()]).double()
    model.train(was)
    n = images.shape[0]
    return tuple(float(v) / n for v in totals.cpu())


def _check_labels(name: str, labels, images: torch.Tensor) -> None:
    """None, or one class per image: a tensor ``[N]`` (its values are checked by the conditional model)."""
    if labels is None:
        return
    if not torch.is_tensor(labels):
        raise TypeError(f"{name} must be a torch.Tensor of class indices [N], got {type(labels).__name__}")
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{name} must hold one class per image, shape [{images.shape[0]}], got {tuple(labels.shape)}")


def _with_labels(batches, labels):
    """``(images, labels)`` pairs from :func:`vae_teach.data.batches`, with ``None`` labels when there are none."""
    for b in batches:
        yield b if labels is not None else (b, None)


def _to(labels, dev):
    return None if labels is None else labels.to(dev)


def make_adam(params, lr: float = 1e-3, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam (Kingma & Ba, 2015) with its update fused into one kernel when the parameters allow it.

    Same algorithm and hyper-parameters as ``torch.optim.Adam``'s default loop; the fused kernel
    reads and writes each parameter once per step instead of once per elementwise operation,
    which on a CPU is a large share of a small model's step (see BENCHMARKS.md).
    """
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def _keep_history_on_interrupt(fit_fn):
    """Ctrl-C inside ``fit``: put the model in eval mode, attach the history so far, re-raise.

    ``fit`` always trains into a History object created here when the caller passed none, so the
    completed epochs are on ``err.history`` however far the loop got.
    """
    sig = inspect.signature(fit_fn)

    @functools.wraps(fit_fn)
    def wrapper(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        if bound.arguments.get("history") is None:
            bound.arguments["history"] = History()
        try:
            return fit_fn(*bound.args, **bound.kwargs)
        except KeyboardInterrupt as err:
            model = bound.arguments["model"]
            if hasattr(model, "eval"):
                model.eval()
            err.history = bound.arguments["history"]
            raise

    return wrapper


LR_SCHEDULES = ("constant", "cosine", "warmup_cosine")


def scheduled_lr(lr: float, frac: float, schedule: str) -> float:
    """The learning rate a fraction ``frac`` (0 to 1) of the way through a ``fit`` call (see its docstring):
    cosine from ``lr`` down to ``lr / 20``; "warmup_cosine" also ramps it up linearly over the first tenth."""
    if schedule == "constant":
        return lr
    rate = lr / 20 + (lr - lr / 20) * 0.5 * (1 + math.cos(math.pi * frac))
    return rate * min(1.0, frac / 0.1) if schedule == "warmup_cosine" else rate


@_keep_history_on_interrupt
@flush_denormals()  # a confident decoder's exp(-|logits|) underflows into the CPU's slow path (vae_teach.precision)
def fit(model, train_images: torch.Tensor, test_images: torch.Tensor | None = None, *,
        epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.0,
        seed: int = 0, recon: Recon = "auto", beta: float = 1.0, prior_mu: float = 0.0,
        prior_logvar: float = 0.0, binarize: str | None = None, history: History | None = None,
        callback=None, desc: str = "", precision: str = "fp32", device: str | torch.device | None = None,
        lr_schedule: str = "constant", objective=None, train_labels: torch.Tensor | None = None,
        test_labels: torch.Tensor | None = None) -> History:
    """Train ``model`` with Adam and return its :class:`History`.

    recon / beta / prior_*: the objective (see :func:`vae_teach.losses.loss_terms`).
    binarize: None (continuous data), or "dynamic" (resample x ~ Bernoulli(pixels) per batch).
    Evaluates on ``test_images`` after every epoch. ``callback(epoch, model, history)`` runs after each;
    it returns None (go on) or a bool: a true value (``True``, ``np.True_``, ``torch.tensor(True)``)
    stops training there (e.g. once a target test loss is reached).
    Pass a previous ``history`` to continue training (its lists are extended).

    lr_schedule: "constant" (Adam at ``lr`` throughout), or "cosine": the learning rate follows
    lr_t = lr/20 + (lr - lr/20) * (1 + cos(pi t / T)) / 2 over the T steps of this call, so a higher
    peak rate can be used early and the last epochs settle; or "warmup_cosine": the same multiplied by
    min(1, t / (T/10)), a linear ramp from 0 over the first tenth of the steps, which lets a still higher
    peak rate start without blowing up the fresh network (the bench's recipe for reaching a given loss
    in few epochs; see BENCHMARKS.md).
    precision: "fp32" (the default: the book's numbers, identical on every machine), "bf16"
    (autocast forward pass, fp32 weights, optimizer state and loss; see :mod:`vae_teach.precision`)
    or "auto" (bf16 where the hardware multiplies bf16 natively, else fp32); ``history.precision``
    says which ran. Training runs on the model's device (move it with ``model.to(...)``); the data
    are moved there once. ``device``, if given, must be that device.

    objective: None (the default: the negative beta-ELBO of :func:`vae_teach.losses.loss_terms`),
    :class:`vae_teach.objectives.ELBO` (KL warm-up, free bits; chapter 12), :class:`vae_teach.iwae.IWAE`
    (the importance-weighted bound; chapter 13) or the dict form of either. ``history.train_loss`` is
    then the objective minimized and ``train_nelbo`` the true negative ELBO (beta = 1, unclamped).

    train_labels / test_labels: the class of each image ``[N]``, for a conditional model (the
    conditional VAE of chapter 15: each batch's labels go to ``loss_terms(..., labels=...)``); the batch
    order is the same as without them. Refused with a non-conditional model or with ``objective``.

    Everything is checked before the first step: the arguments, the images (float, at least one,
    no NaN), and one forward pass of the model and the objective on one train and one test image,
    so a mismatch shows at once instead of after a full epoch.
    On Ctrl-C the ``KeyboardInterrupt`` propagates with ``err.history`` (the completed epochs) and
    the model in eval mode.
    """
    _check_images("train_images", train_images)
    if test_images is not None:
        _check_images("test_images", test_images)
    _check_labels("train_labels", train_labels, train_images)
    if test_labels is not None and test_images is None:
        raise ValueError("test_labels were given without test_images")
    if test_images is not None:
        _check_labels("test_labels", test_labels, test_images)
    if (train_labels is None) != (test_labels is None) and test_images is not None:
        raise ValueError("give both train_labels and test_labels (a conditional model needs the labels of "
                         "both sets), or neither")
    epochs = integer("epochs", epochs, minimum=0)
    batch_size = integer("batch_size", batch_size, minimum=1)
    lr = real_number("lr", lr, minimum=0.0, strict=True)
    real_number("weight_decay", weight_decay, minimum=0.0)
    real_number("beta", beta, minimum=0.0)
    if binarize not in (None, "dynamic"):
        raise ValueError(f"binarize must be None or 'dynamic', got {binarize!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, got {lr_schedule!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(epoch, model, history), got {type(callback).__name__}")
    train_objective = resolve_objective(objective)
    if train_objective is not None and train_labels is not None:
        raise ValueError("objective= is not supported with labels: a conditional model trains on its negative "
                         "conditional ELBO (leave objective=None)")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a vae_teach.train.History (to continue training), got {type(history).__name__}")
    dev = model_device(model)
    if device is not None and torch.device(device) != dev and not (
            torch.device(device).type == dev.type == "cuda" and torch.device(device).index is None):
        raise ValueError(f"device={str(device)!r} but the model's parameters are on {dev}; move the model "
                         f"first (model.to({str(device)!r})) or leave device=None to train where the model is")
    prec = resolve_precision(precision, dev)
    train_images = train_images.to(dev)
    train_labels = _to(train_labels, dev)
    # One image of each set through the model and the objective, before any training: a shape,
    # decoder or target-range mismatch fails now. fork_rng: the caller's random stream is untouched.
    with torch.no_grad(), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        for name, xs, ys in (("train_images", train_images, train_labels), ("test_images", test_images, test_labels)):
            if xs is not None:
                try:
                    loss_terms(model, xs[:1].to(dev), recon=recon, beta=beta, prior_mu=prior_mu,
                               prior_logvar=prior_logvar, labels=None if ys is None else ys[:1].to(dev))
                    if train_objective is not None and name == "train_images":
                        train_objective.train_terms(model, xs[:1].to(dev), step=0, steps_per_epoch=1, recon=recon,
                                                    beta=beta, prior_mu=prior_mu, prior_logvar=prior_logvar)
                except (ValueError, TypeError) as e:
                    raise type(e)(f"{name} cannot be used with this model and objective: {e}") from e
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
    epoch_start = [torch.empty_like(p) for p in params]  # the fallback if the step snapshot is not finite
    have_snapshot = False
    for epoch in progress(range(start_epoch + 1, start_epoch + epochs + 1), total=epochs, desc=desc or "epochs",
                          leave=False):
        _copy_params(epoch_start, params)
        t0 = time.perf_counter()
        model.train()
        sums = torch.zeros(4, dtype=torch.float64, device=dev)
        seen = 0
        batches = _with_labels(_data.batches(train_images, batch_size, generator=g, labels=train_labels), train_labels)
        for step, (xb, yb) in enumerate(progress(batches, total=n_steps, desc=f"epoch {epoch}"), start=1):
            if binarize == "dynamic":
                xb = torch.bernoulli(xb, generator=g_dev)
            if lr_schedule != "constant":
                frac = ((epoch - start_epoch - 1) * n_steps + step - 1) / max(1, epochs * n_steps)
                for group in opt.param_groups:
                    group["lr"] = scheduled_lr(lr, frac, lr_schedule)
            with autocast(prec, dev):
                if train_objective is None:
                    t = loss_terms(model, xb, **objective, labels=yb)
                else:
                    t = train_objective.train_terms(model, xb, step=(epoch - 1) * n_steps + step - 1,
                                                    steps_per_epoch=n_steps, **objective)
            if not torch.isfinite(t.loss):
                # The last step's weights gave a finite loss, but may hold inf / NaN themselves
                # (a blown-up unit the loss did not see): then fall back to the epoch's start.
                if have_snapshot and _all_finite(snapshot):
                    _copy_params(params, snapshot)
                    restored = "its last finite step"
                else:
                    _copy_params(params, epoch_start)
                    restored = f"its weights at the start of epoch {epoch}"
                raise TrainingDiverged(
                    f"training diverged: the loss became {float(t.loss.detach())} at epoch {epoch}, step {step} "
                    f"(of {n_steps}); lr={lr:g} is probably too high: try lr={lr / 10:g}. The model was "
                    f"restored to {restored} and the history of the {hist.epochs} completed "
                    "epoch(s) is kept on this exception (err.history).", epoch, step, hist)
            opt.zero_grad(set_to_none=True)
            t.loss.backward()
            # Keep the parameters that produced this finite loss, to restore if the next one is not.
            with torch.no_grad():
                for s, p in zip(snapshot, params):
                    s.copy_(p)
            have_snapshot = True
            opt.step()
            sums += torch.stack([t.loss.detach(), t.recon.detach(), t.kl.detach(),
                                 (t.recon + t.kl).detach()]).double() * xb.shape[0]
            seen += xb.shape[0]
        tr = (sums / seen).cpu().tolist()
        hist.train_loss.append(tr[0]); hist.train_recon.append(tr[1]); hist.train_kl.append(tr[2])
        hist.train_nelbo.append(tr[3])
        if test_images is not None:
            te_x = test_images
            if binarize == "dynamic":
                te_x = _data.binarize_static(test_images, seed=seed)
            te = evaluate_terms(model, te_x, **objective, labels=test_labels)
            hist.test_loss.append(te[0]); hist.test_recon.append(te[1]); hist.test_kl.append(te[2])
            hist.test_nelbo.append(te[1] + te[2])
        hist.seconds.append(time.perf_counter() - t0)
        if callback is not None and _stop_requested(callback(epoch, model, hist)):
            break
    model.eval()
    return hist


def clone_model(model):
    """A deep copy (same config and weights), e.g. to keep a model before an experiment."""
    return copy.deepcopy(model)
