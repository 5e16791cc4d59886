"""Shipped weights (safetensors, no pickle) and ``manifest.json``: how each file was made, and its checksum."""
from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import torch

from ..validate import atomic_write

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights"
MANIFEST = HERE / "manifest.json"


def weights_path(name: str) -> Path:
    return WEIGHTS / f"{name}.safetensors"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def write_entry(name: str, entry: dict) -> None:
    """Add or replace one model's entry; the file is rewritten atomically (never half-written), under a lock
    so that two ``zoo train`` processes finishing together cannot drop each other's entry."""
    with _manifest_lock():
        manifest = read_manifest()
        manifest[name] = entry
        text = json.dumps(dict(sorted(manifest.items())), indent=1) + "\n"
        atomic_write(MANIFEST, lambda tmp: Path(tmp).write_text(text))


@contextlib.contextmanager
def _manifest_lock():
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; zoo training there is one process at a time
        yield
        return
    with open(MANIFEST.with_suffix(".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def save_weights(name: str, state_dict: dict, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``state_dict`` as safetensors; floating tensors stored as ``dtype`` (fp32 or fp16)."""
    from safetensors.torch import save_file

    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
               for k, v in state_dict.items()}
    path = weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    return path


def load_weights(path: Path) -> dict:
    """The tensors of a safetensors file, floating ones as fp32."""
    from safetensors.torch import load_file

    return {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
