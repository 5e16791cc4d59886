"""The zoo's registry: every model the chapters load, with the recipe that trained it (issue: model zoo).

One row per model, readable as a table (``python -m vae_teach zoo list``). A spec is everything that
determines the weights; its hash is stored in the manifest at training time, so a changed recipe
makes the shipped weights *stale* and :func:`vae_teach.zoo.load` refuses them until retrained.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Spec:
    name: str
    chapter: str             # where the book uses it
    kind: str                # "classifier" (vae_teach.fid.MNISTClassifier) or "vae" / "ae" (vae_teach.models)
    dataset: str             # "mnist" or "fashion"; all 60,000 training images
    data: str = "continuous"  # "continuous" (pixel / 255) or "dynamic" binarization
    model: dict = field(default_factory=dict)      # ModelConfig fields (VAE / AE)
    objective: dict = field(default_factory=dict)  # recon / beta / prior_* (see losses.loss_terms)
    recipe: dict = field(default_factory=dict)     # optimizer recipe: epochs, batch_size, lr, lr_schedule, ...
    precision: str = "auto"  # what `fit` runs in; the manifest records what actually ran
    seed: int = 0
    note: str = ""

    def digest(self) -> str:
        """sha256 of the spec's fields (the ``note`` excluded): what the shipped weights were trained from."""
        d = asdict(self)
        d.pop("note")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("mnist_classifier", "5, 9, 10", "classifier", "mnist",
         recipe=dict(epochs=3, batch_size=128, lr=5e-3, schedule="one-cycle"), precision="fp32",
         note="FID / perceptual features (64-d after ReLU4); fid.train_classifier"),
    Spec("fashion_classifier", "8", "classifier", "fashion",
         recipe=dict(epochs=3, batch_size=128, lr=5e-3, schedule="one-cycle"), precision="fp32",
         note="FID features for Fashion-MNIST; fid.train_classifier"),
]}


def get(name: str) -> Spec:
    if name not in SPECS:
        raise KeyError(f"no zoo model named {name!r}; the zoo holds: {', '.join(SPECS)} "
                       "(python -m vae_teach zoo list)")
    return SPECS[name]
