"""Frechet distances between sets of images, and the feature extractors behind them (chapter 10).

The Frechet distance between two Gaussians N(mu_1, Sigma_1) and N(mu_2, Sigma_2) is

    d^2 = ||mu_1 - mu_2||^2 + Tr( Sigma_1 + Sigma_2 - 2 (Sigma_1 Sigma_2)^(1/2) ).

FID (Heusel et al., 2017) fits one Gaussian to the features of real images and one to the
features of generated images and reports d^2. The number depends entirely on the feature
extractor, so always say which one:

* ``extractor="classifier"`` (the default, offline): the 64-d penultimate layer of a small CNN
  trained by this package on MNIST (or Fashion-MNIST). Its distance is a *Frechet classifier
  distance*; it is comparable only with numbers computed with the same classifier.
* ``extractor="inception"``: pytorch-fid's ``InceptionV3`` (2048-d pool features, images resized
  to 299 x 299 and repeated to 3 channels), the standard FID. It needs the FID weights file
  ``$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth`` on disk; this module never
  downloads it.

The classifiers are zoo models (``vae_teach.zoo``: "mnist_classifier", "fashion_classifier"):
trained once by :func:`train_classifier`, shipped with the package as safetensors weights and
checked against the manifest's sha256 when loaded. No chapter trains them on the reader's machine,
so every Frechet classifier distance is computed with the same network everywhere.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as _data
from ._progress import progress
from .precision import model_device

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + INCEPTION_FILE)
DATASETS = ("mnist", "fashion")
EXTRACTORS = ("classifier", "inception")
# Pixel statistics of MNIST / Fashion-MNIST training images; the classifier normalises inside.
_NORM = {"mnist": (0.1307, 0.3081), "fashion": (0.2860, 0.3530)}

_CLASSIFIERS: dict[str, "MNISTClassifier"] = {}
_REF_STATS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


# --------------------------------------------------------------------------------------------
# The Frechet distance
# --------------------------------------------------------------------------------------------
def _psd_sqrt(name: str, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric PSD matrix: (clamped eigenvalues, eigenvectors).

    Round-off leaves tiny negative eigenvalues on singular covariances (dead units, n < F); they
    are clamped to 0. A clearly negative one means the matrix is not a covariance: refused.
    """
    if not np.isfinite(sigma).all():
        raise ValueError(f"{name} contains NaN or inf; compute it from finite features")
    if not np.allclose(sigma, sigma.T, rtol=1e-5, atol=1e-8 * max(1.0, float(np.abs(sigma).max()))):
        raise ValueError(f"{name} is not symmetric, so it is not a covariance matrix; use np.cov(features, rowvar=False)")
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    tol = 1e-8 * max(1.0, float(np.abs(w).max()))
    if w.min() < -tol:
        raise ValueError(f"{name} has a negative eigenvalue ({w.min():.3g}), so it is not a covariance matrix")
    return np.clip(w, 0.0, None), v


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 0.0) -> float:
    """d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr( (sigma1 sigma2)^(1/2) )  (chapter 10).

    ``mu*``: mean feature vectors ``[F]``; ``sigma*``: covariance matrices ``[F, F]`` (numpy or torch).

    The trace term without a general matrix square root: sigma1 sigma2 is similar to the symmetric
    PSD matrix M = sigma1^(1/2) sigma2 sigma1^(1/2) (same eigenvalues), so

        Tr( (sigma1 sigma2)^(1/2) ) = sum_i sqrt( lambda_i(M) ),

    with sigma1^(1/2) and the lambda_i from symmetric eigen-decompositions (eigenvalues clamped at 0).
    This is real by construction and stays finite for singular covariances (fewer samples than
    features), where ``scipy.linalg.sqrtm(sigma1 @ sigma2)`` can fail or return complex values.
    ``eps`` (default 0) adds eps * I to both covariances first, a ridge for comparisons with code that uses one.
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    sigma1, sigma2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must be vectors of the same length, got {mu1.shape} and {mu2.shape}")
    if not (np.isfinite(mu1).all() and np.isfinite(mu2).all()):
        raise ValueError("mu1 / mu2 contain NaN or inf; compute them from finite features")
    f = mu1.shape[0]
    if sigma1.shape != (f, f) or sigma2.shape != (f, f):
        raise ValueError(f"sigma1 and sigma2 must be [{f}, {f}] covariance matrices, "
                         f"got {sigma1.shape} and {sigma2.shape}")
    if eps:
        sigma1, sigma2 = sigma1 + eps * np.eye(f), sigma2 + eps * np.eye(f)
    w1, v1 = _psd_sqrt("sigma1", sigma1)
    root1 = (v1 * np.sqrt(w1)) @ v1.T                      # sigma1^(1/2), symmetric
    _psd_sqrt("sigma2", sigma2)                            # same checks on sigma2
    m = root1 @ sigma2 @ root1
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(lam, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


class FewSamplesWarning(UserWarning):
    """Fewer images than feature dimensions: the covariance is singular and the distance biased upward."""


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[F]`` and covariance ``[F, F]`` (unbiased, float64) of features ``[N, F]``."""
    f = np.asarray(features.detach().cpu() if torch.is_tensor(features) else features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be [N, F] with N >= 2 (a covariance needs at least 2 samples), "
                         f"got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"features contain {int((~np.isfinite(f)).sum())} NaN or infinite values; "
                         "check the images (NaN pixels?) and the extractor")
    if f.shape[0] < f.shape[1]:
        warnings.warn(f"only {f.shape[0]} samples for {f.shape[1]}-dimensional features: the covariance "
                      "is singular and the Frechet distance is biased upward; use more samples than "
                      "feature dimensions (thousands for a stable number)", FewSamplesWarning, stacklevel=2)
    return f.mean(axis=0), np.cov(f, rowvar=False)


# --------------------------------------------------------------------------------------------
# The domain classifier (default extractor; also the perceptual loss's network, chapter 9)
# --------------------------------------------------------------------------------------------
class MNISTClassifier(nn.Module):
    """A small CNN for 28 x 28 grey images in [0, 1]; it normalises its input itself.

    conv(1->16, stride 2) BN ReLU1 | conv(16->32, stride 2) BN ReLU2 | conv(32->32) BN ReLU3 |
    fc(1568->64) ReLU4 | fc(64->10). About 120,000 parameters.

    ``features(x)`` are the 64 activations after ReLU4 (the FID features);
    ``perceptual_features(x)`` are the activations after ReLU2 ``[N, 32, 7, 7]`` and ReLU4 ``[N, 64]``
    (the perceptual loss, chapter 9).
    """

    def __init__(self, dataset: str = "mnist"):
        super().__init__()
        mean, std = _NORM[dataset]
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))
        self.block1 = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),       # ReLU1, 14x14
                                    nn.Conv2d(16, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU())     # ReLU2, 7x7
        self.block2 = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # ReLU3
                                    nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU())            # ReLU4
        self.head = nn.Linear(64, 10)

    def _check(self, x: torch.Tensor) -> None:
        if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"the classifier expects images [N, 1, 28, 28] in [0, 1], got {shape}")

    def perceptual_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Activations after the 2nd ReLU ``[N, 32, 7, 7]`` and the 4th ReLU ``[N, 64]``."""
        self._check(x)
        x = x.to(self.mean.dtype)  # e.g. float64 images from a float64 model: cast to the classifier's precision
        h2 = self.block1((x - self.mean) / self.std)
        return h2, self.block2(h2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 64-d penultimate activations (after ReLU4): the Frechet classifier distance's features."""
        return self.perceptual_features(x)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, 10]``."""
        return self.head(self.features(x))


def _load_images(dataset: str, train: bool, root=None):
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    return (_data.load_mnist if dataset == "mnist" else _data.load_fashion_mnist)(train, root)


def train_classifier(dataset: str = "mnist", root=None, epochs: int = 3, batch_size: int = 128,
                     lr: float = 5e-3, seed: int = 0) -> MNISTClassifier:
    """Train :class:`MNISTClassifier` with Adam and a one-cycle learning-rate schedule (peak ``lr``),
    seeded; returns it in eval mode. On MNIST: over 99% test accuracy after 3 epochs."""
    # enable_grad: callers may be inside no_grad (feature extraction trains on first use);
    # fork_rng: training on a cache miss must not shift the caller's random stream, so a notebook
    # gives the same numbers whether or not the classifier was cached.
    with torch.enable_grad(), torch.random.fork_rng(devices=[]):
        x, y = _load_images(dataset, True, root)
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        model = MNISTClassifier(dataset)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-x.shape[0] // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        loss_fn = nn.CrossEntropyLoss()
        for epoch in progress(range(epochs), total=epochs, desc="training the feature classifier"):
            model.train()
            for xb, yb in _data.batches(x, batch_size, generator=g, labels=y):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(xb), yb).backward()
                opt.step()
                sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` classified correctly."""
    model.eval()
    correct = sum(int((model(xb).argmax(1) == yb).sum())
                  for xb, yb in _data.batches(images, batch_size, shuffle=False, labels=labels))
    return correct / images.shape[0]


def load_classifier(dataset: str = "mnist", root=None) -> MNISTClassifier:
    """The package's feature classifier for ``dataset`` ("mnist" or "fashion"), frozen, in eval mode:
    the zoo model ``f"{dataset}_classifier"`` (verified against the zoo manifest; never trained here).
    ``root`` is accepted for compatibility and unused: no data are needed to load it.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset not in _CLASSIFIERS:
        from . import zoo

        _CLASSIFIERS[dataset] = zoo.load(f"{dataset}_classifier")
    return _CLASSIFIERS[dataset]


# --------------------------------------------------------------------------------------------
# InceptionV3 (pytorch-fid), only from a local weights file
# --------------------------------------------------------------------------------------------
def inception_weights_path() -> Path:
    """Where torch hub (and so pytorch-fid) keeps the FID Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def load_inception() -> nn.Module:
    """pytorch-fid's ``InceptionV3`` (2048-d pool3 features) from the local weights file.

    Raises FileNotFoundError, with instructions, when the file is absent: no download is tried.
    """
    path = inception_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the FID Inception weights are not on this machine: expected {path}. This package never "
            f"downloads them. On a machine with internet access, download {INCEPTION_URL} and copy it "
            f"to that path (or set $TORCH_HOME so that $TORCH_HOME/hub/checkpoints/{INCEPTION_FILE} "
            "exists). Without it, use extractor='classifier' (the default).")
    from pytorch_fid.inception import InceptionV3

    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True,
                        use_fid_inception=True)
    return model.eval()


class _InceptionFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # grayscale -> 3 identical channels
        return self.net(x)[0].flatten(1)


# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------
def _check_images(name: str, x) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor of images [N, 1, 28, 28] in [0, 1], got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape [N, 1, H, W] (or 3 channels), got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 images to estimate a covariance, got {x.shape[0]}")
    if not x.is_floating_point() or float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise ValueError(f"{name} must be float images in [0, 1] (the extractor normalises them itself); "
                         f"got dtype {x.dtype}, range [{float(x.min()):.3g}, {float(x.max()):.3g}]")


def get_extractor(extractor: str = "classifier", dataset: str = "mnist", root=None) -> nn.Module:
    """A module with ``.features(x) -> [N, F]`` for images in [0, 1]."""
    if extractor == "classifier":
        return load_classifier(dataset, root)
    if extractor == "inception":
        return _InceptionFeatures(load_inception())
    raise ValueError(f"extractor must be one of {EXTRACTORS}, got {extractor!r}")


@torch.no_grad()
def extract_features(images: torch.Tensor, extractor: str | nn.Module = "classifier", dataset: str = "mnist",
                     batch_size: int = 500, root=None) -> torch.Tensor:
    """Features ``[N, F]`` of ``images`` (in [0, 1]) from a named extractor or a module with ``.features``."""
    net = get_extractor(extractor, dataset, root) if isinstance(extractor, str) else extractor
    net.eval()
    n_batches = -(-images.shape[0] // batch_size)
    dev = model_device(net)  # features computed where the extractor is (cpu if it has no parameters), returned on the CPU
    return torch.cat([net.features(xb.to(dev)).cpu() for xb in progress(_data.batches(images, batch_size, shuffle=False),
                                                             total=n_batches, desc="features")])


def reference_statistics(dataset: str = "mnist", train: bool = False, extractor: str = "classifier",
                         n: int | None = None, root=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the extractor's features on a real image set (cached in memory).

    Default reference: the test set (10,000 images); ``n`` keeps its first n images.
    """
    key = (dataset, train, extractor, n)
    if key not in _REF_STATS:
        x, _ = _load_images(dataset, train, root)
        if n is not None:
            x = x[:n]
        _REF_STATS[key] = feature_statistics(extract_features(x, extractor, dataset, root=root))
    return _REF_STATS[key]


def fid(samples: torch.Tensor, reference: torch.Tensor | str | None = None, extractor: str = "classifier",
        dataset: str = "mnist", root=None) -> float:
    """Frechet distance between the extractor's features of ``samples`` and of ``reference``.

    ``samples``: images ``[N, 1, 28, 28]`` in [0, 1]. ``reference``: images, or None / "test" /
    "train" for the dataset's test or training set (statistics cached per process). With the default
    extractor the result is a Frechet *classifier* distance, not comparable with Inception FID.
    """
    _check_images("samples", samples)
    if reference is None or isinstance(reference, str):
        split = reference or "test"
        if split not in ("test", "train"):
            raise ValueError(f"reference must be images, 'test' or 'train', got {split!r}")
        mu2, s2 = reference_statistics(dataset, split == "train", extractor, root=root)
    else:
        _check_images("reference", reference)
        mu2, s2 = feature_statistics(extract_features(reference, extractor, dataset, root=root))
    mu1, s1 = feature_statistics(extract_features(samples, extractor, dataset, root=root))
    return frechet_distance(mu1, s1, mu2, s2)
