"""The model zoo: models trained once at full budget with the package's own code, shipped as
xz-compressed safetensors weights with a manifest, and loaded by name in the chapters.

    model = vae_teach.zoo.load("mnist_classifier")     # verified: sha256 and spec unchanged

``python -m vae_teach zoo list | train NAME... | train --all | verify [--retrain NAME]``.
Evaluating fixed weights prints the same rounded numbers on every machine, which training does not.
"""
from __future__ import annotations

from . import specs, store
from .specs import SPECS, Spec, family

__all__ = ["load", "load_family", "entry", "history", "budget", "family", "SPECS", "Spec", "ZooError"]


class ZooError(RuntimeError):
    """A zoo file is missing, corrupt or stale; the message names the file and the command that fixes it."""


def entry(name: str) -> dict:
    """The manifest entry of ``name`` (how it was trained: epochs, minutes, CPU, precision, metrics, history)."""
    spec = specs.get(name)
    manifest = store.read_manifest()
    if name not in manifest:
        raise ZooError(f"the zoo manifest {store.MANIFEST} has no entry for {name!r}: train it with "
                       f"`python -m vae_teach zoo train {name}`")
    e = manifest[name]
    if e.get("spec") != spec.digest():
        raise ZooError(f"{store.weights_path(name)} is stale: it was trained from spec {e.get('spec')}, but the "
                       f"registry's spec for {name!r} is now {spec.digest()}; retrain it with "
                       f"`python -m vae_teach zoo train {name}`")
    return e


def load(name: str):
    """The zoo model ``name`` in eval mode, frozen, after checking its file's sha256 against the manifest
    and that its spec has not changed since training. Nothing is downloaded."""
    from .build import build

    e = entry(name)
    path = store.weights_path(name)
    if not path.exists():
        raise ZooError(f"the weights file {path} is missing: retrain it with `python -m vae_teach zoo train {name}` "
                       "(or reinstall the package, which ships it)")
    try:
        digest = store.sha256(path)
    except store.CorruptWeights as err:
        raise ZooError(f"{path} is corrupt: it is not a valid xz file; retrain it with "
                       f"`python -m vae_teach zoo train {name}` (or reinstall the package)") from err
    if digest != e["sha256"]:
        raise ZooError(f"{path} is corrupt or was changed: its sha256 is {digest[:16]}..., the manifest expects "
                       f"{e['sha256'][:16]}...; retrain it with `python -m vae_teach zoo train {name}` "
                       "(or reinstall the package)")
    model = build(specs.get(name))
    model.load_state_dict(store.load_weights(path))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_family(name: str) -> dict:
    """Every seed of configuration ``name``, loaded and verified: ``{"vae_mnist_s0": model, ...}``."""
    return {n: load(n) for n in family(name)}


def history(name: str):
    """The training history recorded in the manifest (per epoch, nats per image), as a ``train.History``."""
    from ..train import History

    h = entry(name)["history"]
    if h is None:
        raise ZooError(f"{name!r} is a {specs.get(name).kind}: the manifest records no training history for it")
    return History(**h)


def budget(name: str) -> str:
    """One line on how ``name`` was trained, from the spec and the manifest (for the chapters' notes)."""
    s, e = specs.get(name), entry(name)
    n = len(e["history"]["train_loss"]) if e.get("history") else e.get("epochs")
    data = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}[s.dataset]
    lr = s.recipe.get("lr")
    sched = s.recipe.get("lr_schedule") or s.recipe.get("schedule") or "constant"
    start = f" more, from {s.recipe['init_from']}'s weights," if "init_from" in s.recipe else ""
    return (f"{name}: {n} epochs{start} on all 60,000 {s.data} {data} training images, batch "
            f"{s.recipe.get('batch_size')}, Adam lr {lr:g} ({sched}), {e['precision']}, {e['train seconds'] / 60:.1f} "
            f"min on {e['threads']} thread{'' if e['threads'] == 1 else 's'}; stored {e.get('storage', 'float32')}")
