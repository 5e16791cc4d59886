"""Fetching MNIST / Fashion-MNIST when they are not on disk (chapters 1, 5, 8).

Each of the four IDX files of a data set is fetched as ``NAME.gz`` from the first mirror that
serves it, with **pooch** (atomic downloads: a file appears under its final name only when
complete), decompressed, and accepted only if its sha256 is the one below (the uncompressed
file; the same values as this project's ``SHA256SUMS``). A mirror that fails, answers with an
HTTP error or serves a file with another checksum is recorded and the next one is tried; when
all fail, one :class:`DataDownloadError` lists every URL, what it answered, and how to place the
files by hand. ``VAE_TEACH_OFFLINE=1`` forbids the network (the test suite sets it);
``VAE_TEACH_MIRRORS`` (comma-separated base URLs) replaces the mirror list (tests serve files
from 127.0.0.1 this way).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from pathlib import Path

from ._progress import quiet
from .data import DataNotFoundError

OFFLINE_ENV = "VAE_TEACH_OFFLINE"
MIRRORS_ENV = "VAE_TEACH_MIRRORS"

# Tried in order. The original MNIST host often answers 403 to scripts (pytorch/vision #1938, #3497),
# so the mirror that torchvision itself uses comes first.
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
}

SHA256 = {  # of the uncompressed IDX files
    ("mnist", "train-images-idx3-ubyte"): "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ("mnist", "train-labels-idx1-ubyte"): "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ("mnist", "t10k-images-idx3-ubyte"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ("mnist", "t10k-labels-idx1-ubyte"): "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ("fashion", "train-images-idx3-ubyte"): "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion", "train-labels-idx1-ubyte"): "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ("fashion", "t10k-images-idx3-ubyte"): "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("fashion", "t10k-labels-idx1-ubyte"): "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


class DataDownloadError(DataNotFoundError):
    """No mirror delivered a file with the expected checksum; the message lists every attempt.

    A :class:`~vae_teach.data.DataNotFoundError`, so code that handles missing data handles this too."""


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def mirrors(name: str) -> list[str]:
    env = os.environ.get(MIRRORS_ENV, "").strip()
    urls = [u.strip() for u in env.split(",") if u.strip()] if env else MIRRORS[name]
    return [u if u.endswith("/") else u + "/" for u in urls]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _answer(err: Exception) -> str:
    """What a mirror answered, in a few words: an HTTP status, or why no answer came."""
    response = getattr(err, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        return f"HTTP {response.status_code}"
    # requests wraps the socket's reason deep inside its message; "[Errno 111] Connection refused" is what helps.
    errno = re.search(r"\[Errno -?\d+\][^'\")]*", str(err))
    kind = "connection error" if type(err).__name__ == "ConnectionError" else type(err).__name__
    return f"{kind}: {errno.group(0).strip() if errno else str(err)[:160]}"


def fetch(name: str, files: list[str], folder: Path) -> None:
    """Put ``files`` (IDX names without .gz) of data set ``name`` into ``folder``, verified; or raise."""
    import pooch

    logger = pooch.get_logger()  # pooch logs each attempt with its temporary path; we print one line instead
    level = logger.level
    logger.setLevel("WARNING")
    try:
        _fetch(name, files, folder)
    finally:
        logger.setLevel(level)


def _fetch(name: str, files: list[str], folder: Path) -> None:
    import pooch

    folder.mkdir(parents=True, exist_ok=True)
    for fname in files:
        target, want = folder / fname, SHA256[(name, fname)]
        attempts = []
        for base in mirrors(name):
            url = f"{base}{fname}.gz"
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                try:
                    gz = pooch.retrieve(url, known_hash=None, fname=fname + ".gz", path=tmp,
                                         progressbar=not quiet())
                    raw = Path(tmp) / fname
                    with gzip.open(gz, "rb") as src, open(raw, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                except Exception as e:  # noqa: BLE001 - any failure of this mirror: note it, try the next
                    attempts.append(f"{url}: {_answer(e)}")
                    continue
                got = _sha256(raw)
                if got != want:
                    attempts.append(f"{url}: checksum mismatch (sha256 {got[:16]}..., expected {want[:16]}...)")
                    continue
                os.replace(raw, target)  # same folder: atomic; nothing partial is ever left under `target`
                break
        else:
            raise DataDownloadError(
                f"could not download {fname} of {folder.parent.name}; tried, in order:\n  " + "\n  ".join(attempts)
                + f"\nTo place the files by hand: get the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gunzip them if they end in .gz) and put them in "
                f"{folder}, or set VAE_TEACH_DATA to a folder that holds {folder.parent.name}/raw/ with them "
                f"(their sha256 are listed in {__name__}.SHA256; `sha256sum FILE` checks one).")
