"""Shipped weights (safetensors, no pickle) and ``manifest.json``: how each file was made, and its checksum.

Each model is one file ``weights/NAME.safetensors.xz``: a safetensors file compressed with xz (the standard
library's ``lzma``; ``xz -d`` restores the plain safetensors file). fp16 weights shrink by about a tenth that
way, which keeps the whole zoo inside its size budget without storing fewer bits. The compressor is told the
width of the numbers (xz's ``lp``/``pb`` options set to the 2- or 4-byte alignment, ``lc=0``), which saves another
twentieth over the default settings; the file is a standard xz stream all the same. The manifest's ``sha256`` is
that of the safetensors content (the decompressed bytes); xz adds its own integrity check, so a damaged file
is refused either way.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
from pathlib import Path

import torch

from ..validate import atomic_write

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights"
MANIFEST = HERE / "manifest.json"


def weights_path(name: str) -> Path:
    return WEIGHTS / f"{name}.safetensors.xz"


class CorruptWeights(ValueError):
    """A weights file that is not a valid xz stream (truncated, or damaged bytes)."""


def safetensors_bytes(path: Path) -> bytes:
    """The safetensors content of a shipped weights file (decompressed)."""
    try:
        return lzma.decompress(Path(path).read_bytes())
    except lzma.LZMAError as e:
        raise CorruptWeights(f"{path} is not a valid xz file ({e})") from e


def sha256(path: Path) -> str:
    """sha256 of the safetensors content of ``path``: what the manifest records."""
    return hashlib.sha256(safetensors_bytes(path)).hexdigest()


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


def compress(content: bytes, itemsize: int = 2) -> bytes:
    """xz at its strongest preset, its literal coder told the data are ``itemsize``-byte numbers: the byte's
    position within a number (``lp``, ``pb`` = log2 itemsize) predicts it better than the previous byte (``lc=0``)."""
    align = {1: 0, 2: 1, 4: 2, 8: 2}[itemsize]  # lp + lc <= 4, pb <= 4: 8-byte data use 4-byte alignment
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "lp": align, "pb": align}
    return lzma.compress(content, format=lzma.FORMAT_XZ, filters=[lzma2])


def save_weights(name: str, state_dict: dict, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``state_dict`` as xz-compressed safetensors; floating tensors stored as ``dtype`` (fp32 or fp16)."""
    from safetensors.torch import save

    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
               for k, v in state_dict.items()}
    data = compress(save(tensors), itemsize=torch.empty(0, dtype=dtype).element_size())
    path = weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return path


def stored_tensors(path: Path) -> dict:
    """The tensors of a shipped weights file, in the dtype they are stored in."""
    from safetensors.torch import load

    return load(safetensors_bytes(path))


def load_weights(path: Path) -> dict:
    """The tensors of a shipped weights file, floating ones as fp32."""
    return {k: (v.float() if v.is_floating_point() else v) for k, v in stored_tensors(path).items()}
