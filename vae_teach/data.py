"""Data: MNIST and Fashion-MNIST as one in-memory tensor each, binarization, fast batches.

Taught in chapters 1, 5 and 8. Images are float32 ``[N, 1, 28, 28]`` in ``[0, 1]``,
labels int64 ``[N]``. Batching indexes a shuffled permutation of the whole tensor, which
is several times faster on a CPU than a ``DataLoader`` that converts one PIL image at a time.

Data root, in order: the ``root`` argument, ``$VAE_TEACH_DATA``, ``./data`` if that folder exists,
else a per-user cache folder (printed when first used). The folder uses torchvision's layout
(``MNIST/raw/train-images-idx3-ubyte`` ...). Missing files are downloaded and verified
(:mod:`vae_teach.download`) unless ``VAE_TEACH_OFFLINE=1`` or ``download=False``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

DATA_ENV = "VAE_TEACH_DATA"

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FOLDERS = {"mnist": "MNIST", "fashion": "FashionMNIST"}
_CACHE: dict[tuple[str, str, bool], tuple[torch.Tensor, torch.Tensor]] = {}


class DataNotFoundError(FileNotFoundError):
    """The data files are missing or unreadable; the message says where we looked and what we expected."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: argument, else ``$VAE_TEACH_DATA``, else ``./data`` if it exists, else
    the per-user cache folder (``pooch.os_cache("vae_teach")``, e.g. ``~/.cache/vae_teach``)."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    if Path("data").is_dir():
        return Path("data")
    import pooch

    return Path(pooch.os_cache("vae_teach"))


def _read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Read an IDX file (the MNIST container format): magic, dims, big-endian sizes, uint8 data."""
    try:
        raw = path.read_bytes()
    except OSError as e:  # a directory, no permission, an unreadable disk: still "the data is not usable"
        raise DataNotFoundError(f"cannot read the data file {path} ({type(e).__name__}: {e.strerror or e}); "
                                "it must be a readable IDX file: check the path and its permissions, "
                                "or delete it and download the data again.") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != expected_dims:
        raise DataNotFoundError(f"{path} is not a valid IDX file (bad header); the file may be corrupt. "
                                "Delete it and download the data again.")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(expected_dims)]
    start = 4 + 4 * expected_dims
    n = int(np.prod(dims))
    if len(raw) - start != n:
        raise DataNotFoundError(f"{path} is truncated or corrupt: header says {dims} ({n} bytes of data), "
                                f"file holds {len(raw) - start}. Delete it and download the data again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


_ANNOUNCED: set[str] = set()


def _download(name: str, folder: Path, files: list[str]) -> None:
    from .download import fetch

    if str(folder) not in _ANNOUNCED:  # say once where the data go
        print(f"downloading {_FOLDERS[name]} into {folder.resolve()} (checked against sha256)", flush=True)
        _ANNOUNCED.add(str(folder))
    fetch(name, files, folder)


def _load(name: str, train: bool, root: str | os.PathLike | None, download: bool | None) -> tuple[torch.Tensor, torch.Tensor]:
    base = data_root(root)
    folder = base / _FOLDERS[name] / "raw"
    img_name, lab_name = _FILES[train]
    key = (name, str(base.resolve()), train)
    if key in _CACHE:
        return _copies(_CACHE[key])
    paths = [folder / img_name, folder / lab_name]
    if not all(p.exists() for p in paths):
        from .download import OFFLINE_ENV, offline

        if download is True and offline():
            raise DataNotFoundError(f"download=True, but {OFFLINE_ENV}=1 forbids the network; unset it, or put the "
                                    f"files in {folder.resolve()}")
        if download is True or (download is None and not offline()):
            _download(name, folder, [p.name for p in paths if not p.exists()])
        if not all(p.exists() for p in paths):
            why = (f" {OFFLINE_ENV}=1 forbids downloading them." if offline() else
                   " download=False was passed." if download is False else "")
            raise DataNotFoundError(
                f"{_FOLDERS[name]} not found. Searched folder: {folder.resolve()} "
                f"(data root from the `root` argument, else ${DATA_ENV}, else ./data, else the user cache). "
                f"Expected files: {img_name}, {lab_name} "
                f"(uncompressed IDX, torchvision layout <root>/{_FOLDERS[name]}/raw/).{why} "
                f"Set {DATA_ENV} to the folder that holds {_FOLDERS[name]}/, or allow the download (unset {OFFLINE_ENV}).")
    images = _read_idx(paths[0], 3)
    labels = _read_idx(paths[1], 1)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise DataNotFoundError(f"{folder}: images {images.shape} and labels {labels.shape} do not match "
                                "(expected [N, 28, 28] and [N]); the files may be corrupt.")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    _CACHE[key] = (x, y)
    return _copies((x, y))


def _copies(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh copies of the cached tensors, so an in-place edit (``x -= 0.5``) cannot change later calls.

    Reading the files is the slow part; copying 60,000 images from memory costs tens of milliseconds.
    """
    return pair[0].clone(), pair[1].clone()


def load_mnist(train: bool = True, root: str | os.PathLike | None = None,
               download: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as ``(images, labels)``: float32 ``[N, 1, 28, 28]`` in [0, 1] and int64 ``[N]``.

    Continuous MNIST (pixel / 255). Read from disk once per process and cached in memory; each call
    returns a fresh copy, so editing the result in place does not change later calls. Missing files
    are downloaded and verified (``download=None``: unless ``VAE_TEACH_OFFLINE=1``; ``False``: never).
    """
    return _load("mnist", train, root, download)


def load_fashion_mnist(train: bool = True, root: str | os.PathLike | None = None,
                       download: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as ``(images, labels)``, same format as :func:`load_mnist` (chapter 8)."""
    return _load("fashion", train, root, download)


def binarize_static(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One fixed Bernoulli draw per pixel, ``x_b ~ Bernoulli(x)`` with a fixed seed (chapter 11).

    Static binarization: the same binary image every epoch and every run with the same seed.
    """
    _check_unit_interval(images)
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(images, generator=g)


def binarize_dynamic(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli draw per pixel each call (dynamic binarization, resampled every epoch/batch)."""
    return torch.bernoulli(images, generator=generator)


def _check_unit_interval(images: torch.Tensor) -> None:
    if not torch.is_tensor(images) or not images.is_floating_point():
        raise TypeError(f"expected a float tensor of pixel intensities, got {type(images).__name__}")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"pixel intensities must lie in [0, 1] to binarize, got range [{lo:.3g}, {hi:.3g}]")


def batches(images: torch.Tensor, batch_size: int, *, shuffle: bool = True,
            generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
            drop_last: bool = False) -> Iterator[torch.Tensor] | Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield mini-batches of an in-memory tensor by indexing a (shuffled) permutation.

    No per-item ``Dataset.__getitem__``: one ``randperm`` per epoch, one gather per batch.
    Yields ``images[idx]``, or ``(images[idx], labels[idx])`` when ``labels`` is given.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n = images.shape[0]
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        if labels is None:
            yield images[idx]
        else:
            yield images[idx], labels[idx]
