"""Checkpoints (chapter 5): a model's config, weights, history and extras in one file.

``save_checkpoint`` writes atomically (a temporary file in the same folder, renamed into place), so a
save that fails half-way leaves the previous checkpoint intact; ``load_checkpoint`` checks the
format version and that the config names every field that shapes the model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .models import ModelConfig, build_model
from .validate import atomic_write

if TYPE_CHECKING:
    from .train import History

CHECKPOINT_VERSION = 1


def _plain(value, where: str):
    """``value`` as types a weights-only ``torch.load`` accepts; numpy scalars / arrays are converted.

    Done before writing, so a checkpoint that saves is one that loads: numpy scalars become Python
    numbers, numpy arrays become tensors; anything else unknown is refused, naming its key.
    """
    if isinstance(value, np.generic):  # first: np.float64 is also a float, but not loadable
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if torch.is_tensor(value):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        out = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return out if isinstance(value, list) else tuple(out)
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, (str, int))]
        if bad:
            raise TypeError(f"save_checkpoint: {where} has a key {bad[0]!r} of type {type(bad[0]).__name__}; "
                            "use str or int keys")
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(f"save_checkpoint: {where} is a {type(value).__name__}, which a checkpoint cannot store "
                    "safely; store numbers, strings, lists, dicts, tensors or numpy arrays "
                    "(e.g. convert it with str() or float())")


def save_checkpoint(path: str | os.PathLike, model, history: History | None = None, **extra) -> Path:
    """Save the model's config, weights and (optionally) history and extra metadata to ``path``.

    ``extra``: numbers, strings, lists, dicts, tensors; numpy scalars are stored as Python numbers
    and numpy arrays as tensors; other types are refused before anything is written. The file is
    written next to ``path`` and renamed onto it, so a failed save leaves an existing ``path`` intact.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"save_checkpoint: path {path} is a folder; give a file name, e.g. {path / 'model.pt'}")
    blob = {"version": CHECKPOINT_VERSION, "config": _plain(model.config.to_dict(), "config"),
            "state_dict": model.state_dict(),
            "history": _plain(history.to_dict(), "history") if history is not None else None,
            "extra": _plain(extra, "extra")}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(blob, tmp))
    return path


# Config fields a checkpoint must name: their defaults would silently build a different model
# (an old file without "decoder" would otherwise load as a Bernoulli decoder). dropout and init
# only matter for training, so their defaults are safe.
_REQUIRED_FIELDS = ("kind", "arch", "latent_dim", "hidden", "channels", "decoder", "decoder_logvar", "image_shape")
_HIERARCHICAL_FIELDS = ("kind", "hidden1", "latent1", "hidden2", "latent2", "image_shape")


def load_checkpoint(path: str | os.PathLike):
    """Rebuild a model from :func:`save_checkpoint`'s file. Returns ``(model, history, extra)``.

    Checks the format version (``CHECKPOINT_VERSION``) and that the stored config names every field
    that shapes the model, so an old or foreign file is refused with a message instead of loading
    as the wrong model.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}")
    if path.is_dir():
        raise IsADirectoryError(f"load_checkpoint: {path} is a folder, not a checkpoint file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or not a torch file
        raise ValueError(f"{path} is not a readable vae_teach checkpoint ({type(e).__name__}: {str(e)[:300]}); "
                         "the file may be corrupt or truncated") from None
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is a torch file but not a vae_teach checkpoint (no 'config'/'state_dict')")
    version = blob.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {version!r}; this vae_teach reads version "
                         f"1 to {CHECKPOINT_VERSION}. A newer file needs a newer vae_teach (pip install -U vae-teach)")
    cfg = blob["config"]
    hierarchical = isinstance(cfg, dict) and cfg.get("kind") == "hierarchical"  # the two-layer VAE (chapter 14)
    missing = [k for k in (_HIERARCHICAL_FIELDS if hierarchical else _REQUIRED_FIELDS) if k not in cfg]
    if missing:
        raise ValueError(f"{path}: its config lacks {missing} (written by an older vae_teach?), so the model "
                         "cannot be rebuilt safely (a default would give a different model). Rebuild it "
                         "yourself: model = build_model(<the settings it was trained with>); "
                         "model.load_state_dict(torch.load(path, weights_only=True)['state_dict'])")
    try:
        if hierarchical:
            from .hierarchical import build_hierarchical

            model = build_hierarchical(cfg)
        else:
            model = build_model(ModelConfig(**cfg))
        model.load_state_dict(blob["state_dict"])
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path}: its config and weights do not rebuild a model of this vae_teach "
                         f"({type(e).__name__}: {str(e)[:300]})") from None
    model.eval()
    from .train import History  # here, not at the top: train imports this module

    hist = History(**blob["history"]) if blob.get("history") else None
    return model, hist, blob.get("extra", {})
