"""The training engine: determinism, checkpoints, the divergence guard, input errors, the CLI."""
import math

import pytest
import torch

from vae_teach import build_model, fit, load_checkpoint, save_checkpoint
from vae_teach.train import History, TrainingDiverged


def _toy(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.2).float()


def test_two_seeded_runs_give_identical_histories():
    x = _toy()

    def run(seed):
        torch.manual_seed(seed)  # the initial weights are part of the run
        return fit(build_model(latent_dim=2, hidden=(32,)), x[:384], x[384:], epochs=2, batch_size=64, seed=seed)

    h1, h2 = run(7), run(7)
    assert h1.train_loss == h2.train_loss and h1.test_loss == h2.test_loss and h1.test_kl == h2.test_kl
    h3 = run(8)
    assert h3.train_loss != h1.train_loss


def test_history_records_loss_as_recon_plus_kl_and_training_lowers_it():
    x = _toy()
    h = fit(build_model(latent_dim=2, hidden=(32,)), x, x[:128], epochs=3, batch_size=64, seed=0)
    assert h.epochs == 3 and len(h.test_loss) == 3 and len(h.seconds) == 3
    for loss, rec, kl in zip(h.test_loss, h.test_recon, h.test_kl):
        assert math.isclose(loss, rec + kl, rel_tol=1e-6)
    assert h.train_loss[-1] < h.train_loss[0]


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    x = _toy(128)
    m = build_model(arch="conv", latent_dim=3, hidden=(32,), decoder="gaussian_learned", channels=(4, 8))
    h = fit(m, x, None, epochs=1, batch_size=64, seed=0)
    path = save_checkpoint(tmp_path / "m.pt", m, h, note="hi")
    m2, h2, extra = load_checkpoint(path)
    assert m2.config == m.config and extra == {"note": "hi"} and h2.train_loss == h.train_loss
    m.eval()
    torch.testing.assert_close(m.encode(x[:8]), m2.encode(x[:8]), rtol=0, atol=0)
    z = torch.randn(4, 3)
    torch.testing.assert_close(m.decode(z), m2.decode(z), rtol=0, atol=0)


def test_corrupt_or_foreign_checkpoint_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable vae_teach checkpoint"):
        load_checkpoint(bad)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a vae_teach checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_divergence_stops_with_epoch_step_and_lr_advice_and_keeps_last_finite_state():
    x = _toy()
    m = build_model(latent_dim=2, hidden=(32,), decoder="gaussian", decoder_logvar=-10.0)
    with pytest.raises(TrainingDiverged) as err:
        fit(m, x, x[:64], epochs=50, batch_size=64, lr=1e6, seed=0)
    e = err.value
    msg = str(e)
    assert f"epoch {e.epoch}, step {e.step}" in msg and "lr=" in msg and "too high" in msg
    assert all(torch.isfinite(p).all() for p in m.parameters())
    assert isinstance(e.history, History) and e.history.epochs == e.epoch - 1


def test_fit_rejects_bad_inputs_with_clear_messages():
    m = build_model(latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        fit(m, torch.rand(10, 784), epochs=1)
    with pytest.raises(TypeError, match="float tensor"):
        fit(m, torch.zeros(10, 1, 28, 28, dtype=torch.uint8), epochs=1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        fit(m, [[0.0]], epochs=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit(m, torch.rand(10, 1, 28, 28) * 255, epochs=1)
    with pytest.raises(ValueError, match="lr > 0"):
        fit(m, torch.rand(10, 1, 28, 28), epochs=1, lr=0)


def test_cli_train_saves_checkpoint_and_pngs(tmp_path, capsys):
    from vae_teach.__main__ import main
    from vae_teach.data import data_root

    if not (data_root() / "MNIST" / "raw").is_dir():
        pytest.skip("MNIST not found under $VAE_TEACH_DATA")
    rc = main(["train", "--epochs", "1", "--limit", "1000", "--latent", "2", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "epoch   1" in out and "nats per image" in out
    for f in ("checkpoint.pt", "samples.png", "reconstructions.png"):
        assert (tmp_path / f).stat().st_size > 0
    model, hist, _ = load_checkpoint(tmp_path / "checkpoint.pt")
    assert model.config.latent_dim == 2 and hist.epochs == 1


def test_make_adam_fuses_the_update_and_matches_default_adam():
    from vae_teach.train import make_adam

    torch.manual_seed(0)
    a = build_model(latent_dim=2, hidden=(32,))
    b = build_model(latent_dim=2, hidden=(32,))
    b.load_state_dict(a.state_dict())
    opt_a = make_adam(a.parameters(), lr=1e-2, weight_decay=1e-3)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-3, foreach=False)
    assert opt_a.defaults["fused"] is True
    x = _toy(64)
    for step in range(5):
        for m, opt in ((a, opt_a), (b, opt_b)):
            torch.manual_seed(step)  # the same z draws for both models
            opt.zero_grad()
            m(x).x_params.pow(2).mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_callback_returning_true_stops_training_after_that_epoch():
    x = _toy()
    seen = []

    def stop_at_two(epoch, model, hist):
        seen.append(epoch)
        return epoch == 2

    h = fit(build_model(latent_dim=2, hidden=(32,)), x[:384], x[384:], epochs=5, batch_size=64, callback=stop_at_two)
    assert seen == [1, 2] and h.epochs == 2 and len(h.test_loss) == 2


def test_bench_time_to_target_is_cumulative_seconds_at_first_epoch_at_or_below_target():
    from vae_teach.tools.bench import _time_to

    assert _time_to(105.6, [2.0, 3.0, 4.0], [110.0, 105.6, 104.0]) == 5.0
    assert _time_to(105.6, [2.0, 3.0], [110.0, 105.61]) is None
