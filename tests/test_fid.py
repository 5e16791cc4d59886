"""Tests of vae_teach.fid: Frechet distance vs pytorch-fid, the classifier, the Inception path."""
from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from vae_teach import fid


def _random_stats(rng, f, n):
    a = rng.normal(size=(n, f))
    b = rng.normal(size=(n, f)) @ rng.normal(size=(f, f)) * 0.3 + 0.5
    return a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)


@pytest.mark.parametrize("f,n", [(5, 200), (32, 500), (64, 2000)])
def test_frechet_distance_matches_pytorch_fid_on_random_gaussians(f, n):
    mu1, s1, mu2, s2 = _random_stats(np.random.default_rng(f), f, n)
    ours = fid.frechet_distance(mu1, s1, mu2, s2)
    ref = calculate_frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert ours > 0


def test_frechet_distance_matches_pytorch_fid_on_singular_covariances():
    # fewer samples than features: both covariances are rank-deficient
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(10, 30)), rng.normal(size=(10, 30)) + 0.2
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    ours = fid.frechet_distance(mu1, s1, mu2, s2)
    ref = calculate_frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(ours)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_of_identical_gaussians_is_zero_and_of_shifted_means_is_squared_shift():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 8))
    mu, s = a.mean(0), np.cov(a, rowvar=False)
    assert fid.frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-6)
    assert fid.frechet_distance(mu, s, mu + 2.0, s) == pytest.approx(8 * 4.0, rel=1e-6)


def test_frechet_distance_of_all_zero_covariances_is_the_mean_distance():
    z = np.zeros((4, 4))
    assert fid.frechet_distance(np.zeros(4), z, np.ones(4), z) == pytest.approx(4.0, abs=1e-4)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same length"):
        fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="covariance"):
        fid.frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))


def test_classifier_reaches_99_percent_mnist_test_accuracy():
    from vae_teach import load_mnist

    x, y = load_mnist(False)
    assert fid.accuracy(fid.load_classifier("mnist"), x, y) >= 0.99


def test_classifier_features_have_the_documented_shapes():
    clf = fid.MNISTClassifier()
    x = torch.rand(3, 1, 28, 28)
    h2, h4 = clf.perceptual_features(x)
    assert h2.shape == (3, 32, 7, 7) and h4.shape == (3, 64)
    assert clf.features(x).shape == (3, 64) and clf(x).shape == (3, 10)
    with pytest.raises(ValueError, match=r"\[N, 1, 28, 28\]"):
        clf.features(torch.rand(3, 784))


def test_fid_of_a_set_with_itself_is_near_zero_and_of_noise_is_large():
    from vae_teach import load_mnist

    x, _ = load_mnist(False)
    real = x[:2000]
    assert fid.fid(real, real) == pytest.approx(0.0, abs=1e-3)
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert fid.fid(noise, x[2000:4000]) > 10 * fid.fid(x[4000:6000], x[2000:4000])


def test_fid_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fid.fid(torch.rand(10, 1, 28, 28) * 2, "test")
    with pytest.raises(ValueError, match="shape"):
        fid.fid(torch.rand(10, 784), "test")
    with pytest.raises(TypeError):
        fid.fid(np.zeros((10, 1, 28, 28)), "test")
    with pytest.raises(ValueError, match="extractor"):
        fid.fid(torch.rand(10, 1, 28, 28), "test", extractor="vgg")


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_missing_inception_weights_give_a_clear_error_and_no_download(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        fid.load_inception()
    msg = str(err.value)
    assert fid.INCEPTION_FILE in msg and str(tmp_path) in msg and "download" in msg
    with pytest.raises(FileNotFoundError):
        fid.fid(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28), extractor="inception")


def test_inception_path_loads_a_local_weights_file_and_gives_2048_features(tmp_path, monkeypatch, no_network):
    import pytorch_fid.inception as pi

    # Random weights in the FID Inception's format: build the net without loading, save its state dict.
    monkeypatch.setattr(pi, "load_state_dict_from_url", lambda *a, **k: None)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda self, sd, *a, **k: None)
    torch.manual_seed(0)
    state = pi.fid_inception_v3().state_dict()
    monkeypatch.undo()  # restore the real loading code (and the network guard below)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(AssertionError("net")))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: (_ for _ in ()).throw(AssertionError("net")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints" / fid.INCEPTION_FILE
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)

    net = fid.get_extractor("inception")
    loaded = net.net.blocks[0][0].conv.weight
    assert torch.equal(loaded, state["Conv2d_1a_3x3.conv.weight"])  # the file's weights, not fresh ones
    feats = fid.extract_features(torch.rand(2, 1, 28, 28), net)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()


def _frechet_with_sqrtm(mu1, s1, mu2, s2):
    """The textbook formula with scipy's general matrix square root (no deprecated ``disp``)."""
    import scipy.linalg

    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_matches_sqrtm_on_random_covariances_without_scipy_disp():
    import inspect

    from vae_teach.fid import frechet_distance

    assert "disp" not in inspect.getsource(frechet_distance)  # the argument SciPy is removing
    rng = np.random.default_rng(0)
    for _ in range(20):
        f = int(rng.integers(2, 40))
        n = int(rng.integers(f + 5, 5 * f + 10))
        a = rng.normal(size=(n, f)) @ rng.normal(size=(f, f))
        b = rng.normal(size=(n, f)) * rng.uniform(0.5, 2.0, size=f) + 0.3
        args = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        assert frechet_distance(*args) == pytest.approx(_frechet_with_sqrtm(*args), rel=1e-6)


def test_frechet_distance_is_finite_and_real_for_singular_covariances():
    import warnings as _w

    from vae_teach.fid import FewSamplesWarning, feature_statistics, frechet_distance

    rng = np.random.default_rng(1)
    with _w.catch_warnings():
        _w.simplefilter("ignore", FewSamplesWarning)
        s1 = feature_statistics(rng.normal(size=(5, 16)))      # rank 4 of 16
        s2 = feature_statistics(rng.normal(size=(6, 16)) + 1)  # rank 5 of 16
    d = frechet_distance(*s1, *s2)
    assert np.isfinite(d) and d > 0
    assert abs(frechet_distance(*s1, *s1)) < 1e-6 * np.trace(s1[1])  # identical sets: 0 up to round-off


def test_the_classifier_takes_float64_images_and_gives_float32_features():
    """A float64 model's samples (the book's live runs train in float64) go straight into the FID features."""
    from vae_teach import fid

    clf = fid.load_classifier("mnist")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f32, f64 = clf.features(x), clf.features(x.double())
    assert f64.dtype == torch.float32
    torch.testing.assert_close(f64, f32, rtol=1e-5, atol=1e-5)
