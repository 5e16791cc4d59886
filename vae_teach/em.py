"""The EM algorithm for Gaussian mixtures (chapter 2).

Model: a latent class z in {1, ..., K} with p(z = k) = pi_k, and x | z = k ~ N(mu_k, Sigma_k).
Everything here is in float64 NumPy, because the point of the chapter is exact arithmetic on a
model whose posterior p(z | x) is available in closed form.

* E-step: the responsibilities r_nk = p(z = k | x_n) = pi_k N(x_n; mu_k, Sigma_k) / p(x_n).
* M-step: maximise sum_n sum_k r_nk log[pi_k N(x_n; mu_k, Sigma_k)] over the parameters:
  pi_k = N_k / N, mu_k = sum_n r_nk x_n / N_k, Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k,
  with N_k = sum_n r_nk (plus ``reg_covar`` on the diagonal, as scikit-learn does).
* For any distribution q over z:  log p(x) = ELBO(q) + KL(q || p(z | x)), with
  ELBO(q) = E_q[log p(x, z) - log q(z)]. The E-step sets q to the posterior (KL = 0, the bound is
  tight); the M-step raises the ELBO; so log p(x) never decreases (Dempster, Laird & Rubin, 1977).

Log-likelihoods are reported as the **mean over data points** of log p(x_n), in nats per point.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COVARIANCE_TYPES = ("full", "diag")
_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass
class GMMParams:
    """Parameters of a K-component mixture in d dimensions.

    weights ``[K]`` (pi_k, summing to 1); means ``[K, d]``; covariances ``[K, d, d]`` for
    ``covariance_type="full"`` or ``[K, d]`` (the diagonals, i.e. variances) for ``"diag"``.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str = "full"

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.float64)
        self.means = np.asarray(self.means, dtype=np.float64)
        self.covariances = np.asarray(self.covariances, dtype=np.float64)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {self.covariance_type!r}")
        if self.means.ndim != 2:
            raise ValueError(f"means must have shape [K, d], got {self.means.shape}")
        k, d = self.means.shape
        if self.weights.shape != (k,):
            raise ValueError(f"weights must have shape [K] = [{k}], got {self.weights.shape}")
        if np.any(self.weights < 0) or not np.isclose(self.weights.sum(), 1.0, atol=1e-8):
            raise ValueError(f"weights must be non-negative and sum to 1, got sum {self.weights.sum():.6g}")
        want = (k, d, d) if self.covariance_type == "full" else (k, d)
        if self.covariances.shape != want:
            raise ValueError(f"covariances for covariance_type={self.covariance_type!r} must have shape "
                             f"{list(want)}, got {list(self.covariances.shape)}")

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def full_covariances(self) -> np.ndarray:
        """Covariances as ``[K, d, d]`` matrices whatever the covariance type."""
        if self.covariance_type == "full":
            return self.covariances
        return np.stack([np.diag(c) for c in self.covariances])


@dataclass
class EMResult:
    """What :func:`fit_gmm` returns.

    ``log_likelihood[t]`` is the mean log p(x_n) under the parameters after t M-steps
    (t = 0 is the initialisation), so it has ``n_iter + 1`` entries and never decreases.
    ``history`` holds the parameters after each M-step (``history[0]`` is the initialisation).
    """

    params: GMMParams
    log_likelihood: list = field(default_factory=list)
    history: list = field(default_factory=list)

    @property
    def n_iter(self) -> int:
        return len(self.log_likelihood) - 1


def _check_data(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]  # 1-D data: one feature
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape [N, d] (or [N] for 1-D data) with N >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    return x


def log_joint(x, params: GMMParams) -> np.ndarray:
    """log p(x_n, z = k) = log pi_k + log N(x_n; mu_k, Sigma_k), shape ``[N, K]``.

    log N(x; mu, Sigma) = -1/2 [ d log(2 pi) + log|Sigma| + (x - mu)^T Sigma^{-1} (x - mu) ].
    """
    x = _check_data(x)
    n, d = x.shape
    if params.means.shape[1] != d:
        raise ValueError(f"x has {d} features but the mixture has {params.means.shape[1]}")
    out = np.empty((n, params.n_components))
    for k in range(params.n_components):
        diff = x - params.means[k]
        if params.covariance_type == "full":
            chol = np.linalg.cholesky(params.covariances[k])
            sol = np.linalg.solve(chol, diff.T)  # L^{-1} (x - mu)
            maha = np.sum(sol ** 2, axis=0)
            logdet = 2.0 * np.sum(np.log(np.diag(chol)))
        else:
            var = params.covariances[k]
            maha = np.sum(diff ** 2 / var, axis=1)
            logdet = np.sum(np.log(var))
        out[:, k] = np.log(params.weights[k]) - 0.5 * (d * _LOG_2PI + logdet + maha)
    return out


def _logsumexp(a: np.ndarray) -> np.ndarray:
    m = a.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


def log_likelihood(x, params: GMMParams) -> np.ndarray:
    """log p(x_n) = log sum_k pi_k N(x_n; mu_k, Sigma_k) for every point, shape ``[N]`` (nats)."""
    return _logsumexp(log_joint(x, params))


def e_step(x, params: GMMParams) -> tuple[np.ndarray, float]:
    """E-step: responsibilities r_nk = p(z = k | x_n) ``[N, K]`` and the mean log p(x_n)."""
    lj = log_joint(x, params)
    lp = _logsumexp(lj)
    return np.exp(lj - lp[:, None]), float(lp.mean())


def m_step(x, resp: np.ndarray, covariance_type: str = "full", reg_covar: float = 1e-6) -> GMMParams:
    """M-step: the parameters that maximise sum_n sum_k r_nk log p(x_n, z = k) for fixed r.

    ``reg_covar`` is added to every variance (the diagonal) to keep covariances invertible.
    """
    x = _check_data(x)
    resp = np.asarray(resp, dtype=np.float64)
    if resp.ndim != 2 or resp.shape[0] != x.shape[0]:
        raise ValueError(f"resp must have shape [N, K] with N = {x.shape[0]}, got {resp.shape}")
    if np.any(resp < 0) or not np.allclose(resp.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("each row of resp must be a probability vector (non-negative, summing to 1)")
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps  # as scikit-learn: no empty component
    means = resp.T @ x / nk[:, None]
    d = x.shape[1]
    if covariance_type == "full":
        covs = np.empty((len(nk), d, d))
        for k in range(len(nk)):
            diff = x - means[k]
            covs[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + reg_covar * np.eye(d)
    else:
        covs = (resp.T @ x ** 2) / nk[:, None] - means ** 2 + reg_covar
    return GMMParams(nk / nk.sum(), means, covs, covariance_type)


def fit_gmm(x, init: GMMParams, n_iter: int = 100, tol: float = 0.0, reg_covar: float = 1e-6) -> EMResult:
    """Run EM from ``init`` for ``n_iter`` iterations (E-step then M-step).

    Stops early when the mean log-likelihood rises by less than ``tol`` (``tol=0`` runs all
    iterations). Returns an :class:`EMResult` with the mean log-likelihood after every M-step.
    """
    x = _check_data(x)
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    params = init
    resp, ll = e_step(x, params)
    result = EMResult(params, [ll], [params])
    for _ in range(n_iter):
        params = m_step(x, resp, params.covariance_type, reg_covar)
        resp, new_ll = e_step(x, params)
        result.params = params
        result.log_likelihood.append(new_ll)
        result.history.append(params)
        if tol > 0 and new_ll - ll < tol:
            break
        ll = new_ll
    return result


def elbo(x, params: GMMParams, q: np.ndarray) -> np.ndarray:
    """ELBO(q) = sum_k q_nk [log p(x_n, z = k) - log q_nk] per point, ``[N]`` (0 log 0 = 0)."""
    q = _check_q(q, x, params)
    lj = log_joint(x, params)
    return np.sum(q * lj - _xlogx(q), axis=1)


def kl_to_posterior(x, params: GMMParams, q: np.ndarray) -> np.ndarray:
    """KL(q || p(z | x_n)) = sum_k q_nk [log q_nk - log p(z = k | x_n)] per point, ``[N]``."""
    q = _check_q(q, x, params)
    lj = log_joint(x, params)
    log_post = lj - _logsumexp(lj)[:, None]
    return np.sum(_xlogx(q) - q * log_post, axis=1)


def _xlogx(q: np.ndarray) -> np.ndarray:
    return np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)


def _check_q(q, x, params: GMMParams) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    n = _check_data(x).shape[0]
    if q.shape != (n, params.n_components):
        raise ValueError(f"q must have shape [N, K] = [{n}, {params.n_components}], got {q.shape}")
    if np.any(q < 0) or not np.allclose(q.sum(axis=1), 1.0, atol=1e-8):
        raise ValueError("each row of q must be a probability vector (non-negative, summing to 1)")
    return q


def sample_gmm(params: GMMParams, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points from the mixture: returns ``(x [n, d], z [n])``."""
    rng = np.random.default_rng(seed)
    z = rng.choice(params.n_components, size=n, p=params.weights)
    covs = params.full_covariances()
    x = np.stack([rng.multivariate_normal(params.means[k], covs[k]) for k in z])
    return x, z
