"""The VQ-VAE of chapter 16: nearest-code quantization, the straight-through gradient, where the stop-gradients
send the codebook and commitment gradients, perplexity, dead-code restarts, and the autoregressive code prior."""
import math

import pytest
import torch

from vae_teach import vq
from vae_teach.code_prior import CodePrior, fit_prior, mean_nll
from vae_teach.train import fit


def _quantizer(k=4, d=2, restart_every=0):
    q = vq.VectorQuantizer(k, d, restart_every).double()
    with torch.no_grad():
        q.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], dtype=torch.float64)[:k])
    return q


def _z(*vectors):
    """One image whose 1 x len(vectors) map holds the given D-vectors: [1, D, 1, W]."""
    return torch.tensor(vectors, dtype=torch.float64).T.reshape(1, len(vectors[0]), 1, len(vectors))


def test_the_nearest_code_by_squared_distance_is_chosen():
    q = _quantizer()
    idx = q.nearest(_z([0.1, -0.2], [0.9, 0.2], [0.2, 0.7], [3.0, 2.9]))
    assert idx.tolist() == [[[0, 1, 2, 3]]]
    out = q(_z([0.1, -0.2], [0.9, 0.2]))
    torch.testing.assert_close(out.z, _z([0.0, 0.0], [1.0, 0.0]))  # the forward value is z_q


def test_the_straight_through_gradient_is_the_identity_on_the_encoder_output():
    q = _quantizer()
    z_e = _z([0.1, -0.2], [0.9, 0.2], [3.0, 2.9]).requires_grad_(True)
    upstream = torch.randn(z_e.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (g,) = torch.autograd.grad((q(z_e).z * upstream).sum(), z_e)
    torch.testing.assert_close(g, upstream, rtol=0, atol=0)


def test_codebook_loss_moves_only_the_codes_and_commitment_only_the_encoder():
    q = _quantizer()
    z_e = _z([0.1, -0.2], [0.9, 0.2]).requires_grad_(True)
    out = q(z_e)
    g_code_ze, g_code_e = torch.autograd.grad(out.codebook.sum(), (z_e, q.codebook), allow_unused=True)
    assert g_code_ze is None
    # d/de_k ||sg[z_e] - e_k||^2 = 2 (e_k - z_e) for the codes in use, 0 for the others
    torch.testing.assert_close(g_code_e[:2], 2 * (q.codebook[:2].detach() - torch.tensor([[0.1, -0.2], [0.9, 0.2]],
                                                                                         dtype=torch.float64)))
    assert torch.equal(g_code_e[2:], torch.zeros(2, 2, dtype=torch.float64))
    out = q(z_e)
    g_com_ze, g_com_e = torch.autograd.grad(out.commitment.sum(), (z_e, q.codebook), allow_unused=True)
    assert g_com_e is None
    torch.testing.assert_close(g_com_ze, 2 * (z_e.detach() - _z([0.0, 0.0], [1.0, 0.0])))


def test_losses_are_the_summed_squared_distances_per_image():
    q = _quantizer()
    out = q(torch.cat([_z([0.1, -0.2], [0.9, 0.2]), _z([3.0, 2.9], [0.0, 0.5])]))
    want = torch.tensor([0.01 + 0.04 + 0.01 + 0.04, 4 + 2.1 ** 2 + 0.25], dtype=torch.float64)
    torch.testing.assert_close(out.codebook, want)
    torch.testing.assert_close(out.commitment, want)


def test_perplexity_is_k_for_uniform_usage_and_1_for_a_single_code():
    assert vq.perplexity(torch.full((32,), 7)) == pytest.approx(32.0)
    assert vq.perplexity(torch.tensor([0, 0, 12, 0])) == pytest.approx(1.0)
    assert vq.perplexity(torch.tensor([1, 1, 0, 0])) == pytest.approx(2.0)
    assert vq.code_usage(torch.tensor([[0, 2], [2, 2]]), 4).tolist() == [1, 0, 3, 0]


def test_dead_code_restarts_move_unused_codes_onto_encoder_outputs():
    torch.manual_seed(0)
    q = _quantizer(restart_every=2).train()
    z_e = _z([0.1, -0.2], [0.2, 0.1], [0.05, 0.0])  # all nearest to code 0: codes 1, 2, 3 are dead
    for _ in range(2):
        q(z_e.clone().requires_grad_(True))
    assert q.restarts == 3
    outputs = z_e.permute(0, 2, 3, 1).reshape(-1, 2)
    for k in (1, 2, 3):  # each revived code now sits exactly on one of the encoder outputs
        assert any(torch.equal(q.codebook[k].detach(), o) for o in outputs)
    assert len(vq.code_usage(q.nearest(z_e), 4).nonzero()) >= 2
    q0 = _quantizer(restart_every=0).train()
    for _ in range(4):
        q0(z_e.clone().requires_grad_(True))
    assert q0.restarts == 0 and torch.equal(q0.codebook.detach(), _quantizer().codebook.detach())


def test_restarts_raise_code_usage_in_a_short_training_run():
    x = (torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.7).double()
    used = {}
    for every in (0, 5):
        torch.manual_seed(0)
        m = vq.build_vqvae(codebook_size=32, restart_every=every).double()
        fit(m, x, epochs=3, batch_size=32, lr=2e-3, seed=0)
        used[every] = int((vq.code_usage(m.encode(x), 32) > 0).sum())
    assert used[5] > 2 * used[0], used


def test_vqvae_shapes_and_objective():
    torch.manual_seed(0)
    m = vq.build_vqvae(codebook_size=8, code_dim=4)
    x = torch.rand(3, 1, 28, 28)
    idx = m.encode(x)
    assert idx.shape == (3, 7, 7) and idx.dtype == torch.long
    assert m.decode(idx).shape == (3, 1, 28, 28)
    assert m.reconstruct(x).shape == (3, 1, 28, 28) and m.sample_from_codes(idx).shape == (3, 1, 28, 28)
    t = m.elbo_terms(x, reduction="none")
    torch.testing.assert_close(t.loss, t.recon + t.codebook + 0.25 * t.commitment)
    torch.testing.assert_close(t.kl, torch.full((3,), 49 * math.log(8)))
    assert m.bits() == pytest.approx(49 * 3)


@pytest.mark.parametrize("call, err, match", [
    (lambda m: m.encode(torch.rand(2, 28, 28)), ValueError, r"\[N, 1, 28, 28\]"),
    (lambda m: m.encode(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)), TypeError, "255"),
    (lambda m: m.decode(torch.full((1, 7, 7), 8)), ValueError, r"0\.\.7.*K = 8"),
    (lambda m: m.decode(torch.zeros(1, 7, 7)), TypeError, "integer"),
    (lambda m: m.decode(torch.zeros(1, 5, 5, dtype=torch.long)), ValueError, r"\[N, 7, 7\]"),
    (lambda m: m.quantizer.nearest(torch.rand(1, 3, 7, 7)), ValueError, "D=4"),
    (lambda m: m.elbo_terms(torch.rand(2, 1, 28, 28), beta=0.5), ValueError, "VQConfig.beta"),
    (lambda m: vq.perplexity(torch.zeros(4)), ValueError, "positive total"),
    (lambda m: vq.VQConfig(codebook_size=0), ValueError, "codebook_size"),
])
def test_bad_input_gets_a_clear_error(call, err, match):
    m = vq.build_vqvae(codebook_size=8, code_dim=4)
    with pytest.raises(err, match=match):
        call(m)


def test_the_prior_samples_code_maps_and_is_a_normalized_distribution():
    torch.manual_seed(0)
    p = CodePrior(3, map_shape=(1, 3), embed=4, hidden=8).double()
    s = p.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 1, 3) and int(s.min()) >= 0 and int(s.max()) <= 2
    every = torch.cartesian_prod(*[torch.arange(3)] * 3).view(27, 1, 3)
    with torch.no_grad():
        assert float(p.log_prob(every).exp().sum()) == pytest.approx(1.0, abs=1e-12)


def test_the_prior_learns_a_fixed_code_map_and_its_sampler_follows_the_model():
    maps = torch.tensor([[[0, 1], [1, 0]], [[2, 2], [0, 1]]]).repeat(64, 1, 1)
    torch.manual_seed(0)
    p = CodePrior(3, map_shape=(2, 2), embed=8, hidden=16)
    h = fit_prior(p, maps, maps, epochs=30, batch_size=32, lr=1e-2, lr_schedule="constant")
    assert h.test_loss[-1] < 0.8  # near log 2 = 0.69 nats per map: two equally likely maps
    assert mean_nll(p, maps) == pytest.approx(h.test_loss[-1])
    s = p.sample(200, generator=torch.Generator().manual_seed(1))
    hits = ((s == maps[0]).flatten(1).all(1) | (s == maps[1]).flatten(1).all(1)).float().mean()
    assert float(hits) > 0.9
    with pytest.raises(ValueError, match=r"0\.\.2"):
        p.log_prob(torch.full((1, 2, 2), 3))
