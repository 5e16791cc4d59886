"""Chapter 10 exercises (FID): feature statistics and the Frechet distance, in numpy.

The references are the package's ``fid`` functions (chapter 10); ``_frechet_local`` computes the
catalogued wrong variants (and agrees with ``fid.frechet_distance`` on the right answer).
"""
from __future__ import annotations

import numpy as np

from .core import Mistake, Task, register


def _cases_stats() -> list[tuple]:
    rng = np.random.default_rng(20)
    return [(rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) + rng.normal(size=5),)]


def _stats(features, ddof=1):
    return features.mean(axis=0), np.cov(features, rowvar=False, ddof=ddof)


def _stats_reference(features):
    """The package's ``fid.feature_statistics`` (chapter 10)."""
    from ..fid import feature_statistics
    return feature_statistics(features)


def _cases_fid() -> list[tuple]:
    rng = np.random.default_rng(21)
    a = rng.normal(size=(60, 4))
    b = rng.normal(size=(60, 4)) @ np.diag([1.5, 0.7, 1.0, 2.0]) + 0.5
    return [(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))]


def _sqrtm(mat: np.ndarray) -> np.ndarray:
    import scipy.linalg
    return scipy.linalg.sqrtm(mat)


def _frechet_local(mu1, sigma1, mu2, sigma2, *, trace=True, cross=2.0, sqrt="matrix", squared=True,
                   keep_complex=False):
    diff = mu1 - mu2
    mean_term = float(diff @ diff) if squared else float(np.sqrt(diff @ diff))
    if not trace:
        return mean_term
    if sqrt == "matrix":
        covmean = _sqrtm(sigma1 @ sigma2)
        if keep_complex:
            covmean = covmean.astype(np.complex128)  # what older scipy returned, tiny imaginary part
        else:
            covmean = np.real(covmean)
    else:
        covmean = np.sqrt(np.abs(sigma1 * sigma2))
    value = mean_term + np.trace(sigma1) + np.trace(sigma2) - cross * np.trace(covmean)
    return complex(value) if keep_complex else float(value)


def _frechet_reference(mu1, sigma1, mu2, sigma2) -> float:
    """The package's ``fid.frechet_distance``."""
    from ..fid import frechet_distance
    return float(frechet_distance(mu1, sigma1, mu2, sigma2))


register(Task(
    "feature_statistics", 10, "function", _stats_reference,
    "a tuple (mu [F], sigma [F, F]) of numpy arrays: mean and unbiased covariance of the features",
    [Mistake("np.cov treated rows as variables", "features is [N, F] with one image per row: use "
             "np.cov(features, rowvar=False) to get an [F, F] matrix.", lambda f: (f.mean(0), np.cov(f))),
     Mistake("biased covariance (divided by N)", "use the unbiased estimate, divided by N - 1 "
             "(np.cov's default ddof).", lambda f: _stats(f, ddof=0)),
     Mistake("the features were not centred", "the covariance is E[(f - mu)(f - mu)^T]: subtract the "
             "mean first.", lambda f: (f.mean(0), f.T @ f / (f.shape[0] - 1)))],
    _cases_stats, args=("features",), returns=("ndarray", "ndarray"), outputs=("mu", "sigma"),
    dims=("N", "F"),
    reread="Re-read the task: the mean over the rows (axis 0) and the unbiased covariance of the columns, "
           "np.cov(features, rowvar=False)."))
register(Task(
    "frechet_distance", 10, "function", _frechet_reference,
    "a Python float: ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})",
    [Mistake("the Frechet distance without its trace term", "add Tr(S1 + S2 - 2 (S1 S2)^{1/2}): "
             "two sets with the same mean but different spreads are not at distance 0.",
             lambda *a: _frechet_local(*a, trace=False)),
     Mistake("the complex square root left in", "scipy.linalg.sqrtm can return a complex matrix with a "
             "tiny imaginary part; keep its real part (covmean.real) so the distance is a real float.",
             lambda *a: _frechet_local(*a, keep_complex=True)),
     Mistake("element-wise square root instead of the matrix square root", "(S1 S2)^{1/2} is a matrix "
             "square root (scipy.linalg.sqrtm), not np.sqrt of the entries.",
             lambda *a: _frechet_local(*a, sqrt="elementwise")),
     Mistake("the mean term is not squared", "the mean term is the SQUARED distance "
             "||mu1 - mu2||^2 = (mu1 - mu2) @ (mu1 - mu2).", lambda *a: _frechet_local(*a, squared=False)),
     Mistake("the factor 2 on the cross term is missing", "the trace term is Tr(S1) + Tr(S2) - "
             "2 Tr((S1 S2)^{1/2}).", lambda *a: _frechet_local(*a, cross=1.0))],
    _cases_fid, args=("mu1", "sigma1", "mu2", "sigma2"), returns=("float",),
    bounds=((0.0, float("inf"), "a squared Frechet distance"),),
    reread="Re-read the task: the squared distance of the means plus Tr(sigma1) + Tr(sigma2) - 2 Tr of the "
           "matrix square root of sigma1 @ sigma2 (real part)."))
