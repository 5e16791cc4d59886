"""EM for Gaussian mixtures (vae_teach.em): monotone log-likelihood, agreement with scikit-learn,
the identity log p(x) = ELBO(q) + KL(q || p(z|x)), and clear errors on bad input."""
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from vae_teach import em


def _truth(cov_type="full"):
    means = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    if cov_type == "full":
        covs = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.6, -0.2], [-0.2, 0.8]], [[1.5, 0.0], [0.0, 0.3]]])
    else:
        covs = np.array([[1.0, 0.4], [0.5, 2.0], [1.5, 0.3]])
    return em.GMMParams([0.5, 0.3, 0.2], means, covs, cov_type)


def _init(cov_type="full"):
    covs = np.stack([np.eye(2)] * 3) if cov_type == "full" else np.ones((3, 2))
    return em.GMMParams(np.ones(3) / 3, np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]]), covs, cov_type)


def test_log_joint_matches_scipy_density():
    p = _truth()
    x, _ = em.sample_gmm(p, 50, seed=1)
    ref = np.stack([np.log(p.weights[k]) + multivariate_normal(p.means[k], p.covariances[k]).logpdf(x)
                    for k in range(3)], axis=1)
    np.testing.assert_allclose(em.log_joint(x, p), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_log_likelihood_never_decreases(cov_type):
    x, _ = em.sample_gmm(_truth(cov_type), 400, seed=0)
    res = em.fit_gmm(x, _init(cov_type), n_iter=60)
    assert res.n_iter == 60
    assert np.all(np.diff(res.log_likelihood) >= -1e-10)
    assert res.log_likelihood[-1] > res.log_likelihood[0] + 0.5


@pytest.mark.parametrize("cov_type", ["full", "diag"])
def test_matches_sklearn_from_same_init(cov_type):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    x, _ = em.sample_gmm(_truth(cov_type), 400, seed=0)
    init = _init(cov_type)
    res = em.fit_gmm(x, init, n_iter=25)
    prec = np.linalg.inv(init.covariances) if cov_type == "full" else 1.0 / init.covariances
    sk = GaussianMixture(3, covariance_type=cov_type, max_iter=25, tol=0.0, weights_init=init.weights,
                         means_init=init.means, precisions_init=prec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(x)
    np.testing.assert_allclose(res.params.means, sk.means_, atol=1e-8)
    np.testing.assert_allclose(res.params.weights, sk.weights_, atol=1e-8)
    np.testing.assert_allclose(res.params.covariances, sk.covariances_, atol=1e-8)
    # sklearn's lower_bounds_[i] is the mean log-likelihood before the (i+1)-th M-step
    np.testing.assert_allclose(res.log_likelihood[:-1], sk.lower_bounds_, atol=1e-8)
    np.testing.assert_allclose(res.log_likelihood[-1], sk.score(x), atol=1e-8)


def test_one_dimensional_data():
    p = em.GMMParams([0.4, 0.6], [[-2.0], [3.0]], [[[1.0]], [[0.5]]])
    x, _ = em.sample_gmm(p, 300, seed=3)
    res = em.fit_gmm(x[:, 0], em.GMMParams([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]]), n_iter=50)
    np.testing.assert_allclose(np.sort(res.params.means[:, 0]), [-2.0, 3.0], atol=0.3)


def test_elbo_plus_kl_is_log_likelihood_for_any_q():
    p = _truth()
    x, _ = em.sample_gmm(p, 30, seed=2)
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(3), size=30)
    lp = em.log_likelihood(x, p)
    np.testing.assert_allclose(em.elbo(x, p, q) + em.kl_to_posterior(x, p, q), lp, atol=1e-10)
    assert np.all(em.elbo(x, p, q) < lp)
    resp, _ = em.e_step(x, p)
    np.testing.assert_allclose(em.elbo(x, p, resp), lp, atol=1e-10)
    np.testing.assert_allclose(em.kl_to_posterior(x, p, resp), 0.0, atol=1e-10)


def test_bad_input_is_rejected_with_a_clear_message():
    p = _truth()
    with pytest.raises(ValueError, match="sum to 1"):
        em.GMMParams([0.5, 0.6, 0.2], p.means, p.covariances)
    with pytest.raises(ValueError, match="covariances"):
        em.GMMParams(p.weights, p.means, np.ones((3, 2)), "full")
    with pytest.raises(ValueError, match="features"):
        em.log_likelihood(np.zeros((4, 3)), p)
    with pytest.raises(ValueError, match="probability vector"):
        em.elbo(np.zeros((4, 2)), p, np.ones((4, 3)))
    with pytest.raises(ValueError, match="covariance_type"):
        em.m_step(np.zeros((4, 2)), np.ones((4, 3)) / 3, "spherical")
