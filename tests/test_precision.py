"""Mixed precision and devices in the engine: fit(precision=...), the "auto" probe, fp32 evaluation."""
import math

import pytest
import torch

from vae_teach import build_model, fit, precision
from vae_teach.evaluate import active_units, iwae_nll
from vae_teach.train import TrainingDiverged, evaluate_terms


def _toy(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.2).float()


def _run(prec, epochs=3):
    x = _toy()
    torch.manual_seed(0)
    model = build_model(latent_dim=4, hidden=(64,))
    hist = fit(model, x[:384], x[384:], epochs=epochs, batch_size=64, seed=0, precision=prec)
    return model, hist


def test_bf16_fit_tracks_fp32_with_fp32_weights_and_optimizer_state():
    m32, h32 = _run("fp32")
    m16, h16 = _run("bf16")
    assert h32.precision == "fp32" and h16.precision == "bf16"
    assert h16.epochs == h32.epochs == 3 and len(h16.test_loss) == 3
    # bf16 rounds each matmul input to 8 significant bits (relative error 2^-9 per element); over 3
    # epochs on a 784-64-4 model the test negative ELBO (about 250 nats here) moves by well under 1%.
    # 2 nats is 0.8% of it: loose enough for rounding, far tighter than a broken objective (tens of nats).
    for a, b in zip(h32.test_loss, h16.test_loss):
        assert abs(a - b) < 2.0, (h32.test_loss, h16.test_loss)
    assert all(p.dtype == torch.float32 for p in m16.parameters())


def test_bf16_keeps_adam_state_in_fp32(monkeypatch):
    from vae_teach import train

    seen = {}
    real = train.make_adam

    def spy(params, **kw):
        opt = real(params, **kw)
        seen["opt"] = opt
        return opt

    monkeypatch.setattr(train, "make_adam", spy)
    _run("bf16", epochs=1)
    states = list(seen["opt"].state.values())
    assert states and all(s["exp_avg"].dtype == torch.float32 and s["exp_avg_sq"].dtype == torch.float32
                          for s in states)


def test_auto_picks_fp32_where_bf16_is_not_native(monkeypatch):
    monkeypatch.setattr(precision, "bf16_native", lambda device="cpu": False)
    assert precision.resolve_precision("auto") == "fp32"
    _, h = _run("auto", epochs=1)
    assert h.precision == "fp32"
    monkeypatch.setattr(precision, "bf16_native", lambda device="cpu": True)
    assert precision.resolve_precision("auto") == "bf16"


def test_bad_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="precision must be one of"):
        _run("fp16")


class _Recorder(torch.nn.Module):
    """Wraps a VAE; records whether autocast is on and the dtypes of its outputs on every call."""

    def __init__(self, vae):
        super().__init__()
        self.vae, self.config, self.calls = vae, vae.config, []

    def forward(self, x):
        out = self.vae(x)
        self.calls.append((torch.is_autocast_enabled("cpu"), out.mu.dtype, out.x_params.dtype))
        return out

    def mean_image(self, p):
        return self.vae.mean_image(p)


def test_evaluation_during_bf16_training_runs_in_fp32():
    x = _toy(256)
    torch.manual_seed(0)
    rec = _Recorder(build_model(latent_dim=4, hidden=(32,)))

    fit(rec, x[:192], x[192:], epochs=1, batch_size=64, seed=0, precision="bf16")
    train_calls = [c for c in rec.calls[:-1] if c[0]]  # training steps: autocast on, bf16 outputs
    assert train_calls and all(c[1] == torch.bfloat16 for c in train_calls)
    last = rec.calls[-1]  # the test-set evaluation after the epoch (one batch of 64)
    assert last == (False, torch.float32, torch.float32)


def test_divergence_guard_works_in_bf16():
    x = _toy(256)
    torch.manual_seed(0)
    model = build_model(latent_dim=4, hidden=(32,))
    with pytest.raises(TrainingDiverged) as err:
        fit(model, x, None, epochs=3, batch_size=64, lr=1e6, seed=0, precision="bf16")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert err.value.history.precision == "bf16"


def test_explicit_cpu_device_and_a_device_mismatch_error():
    x = _toy(128)
    torch.manual_seed(0)
    model = build_model(latent_dim=2, hidden=(16,))
    h = fit(model, x, x[:64], epochs=1, batch_size=64, device="cpu")
    assert h.epochs == 1
    with pytest.raises(ValueError, match="move the model"):
        fit(model, x, None, epochs=1, device="meta")
    split = build_model(latent_dim=2, hidden=(16,))
    split.to_mu.to("meta")
    with pytest.raises(ValueError, match="several devices"):
        fit(split, x, None, epochs=1)


def test_evaluations_accept_a_model_on_an_explicit_device():
    x = _toy(64)
    torch.manual_seed(0)
    model = build_model(latent_dim=2, hidden=(16,)).to(torch.device("cpu"))
    loss, rec, kl = evaluate_terms(model, x)
    assert math.isclose(loss, rec + kl, rel_tol=1e-6)
    assert math.isfinite(iwae_nll(model, x, k=4))
    assert active_units(model, x)[1].device.type == "cpu"
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).device.type == "cpu"


def test_pick_device():
    assert precision.pick_device("cpu") == torch.device("cpu")
    assert precision.pick_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device must be"):
        precision.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            precision.pick_device("cuda")


def test_cosine_schedule_decays_the_learning_rate_to_a_twentieth(monkeypatch):
    from vae_teach import train

    seen = {}
    real = train.make_adam

    def spy(params, **kw):
        seen["opt"] = real(params, **kw)
        return seen["opt"]

    monkeypatch.setattr(train, "make_adam", spy)
    lrs = []
    x = _toy(256)
    torch.manual_seed(0)
    fit(build_model(latent_dim=2, hidden=(16,)), x, None, epochs=2, batch_size=64, lr=1e-2, lr_schedule="cosine",
        callback=lambda e, m, h: lrs.append(seen["opt"].param_groups[0]["lr"]))
    # 8 steps in all; the last step runs at t = 7/8 of the way: lr/20 + (lr - lr/20) (1 + cos(7 pi / 8)) / 2
    expect = 1e-2 / 20 + (1e-2 - 1e-2 / 20) * 0.5 * (1 + math.cos(math.pi * 7 / 8))
    assert lrs[0] > lrs[1] and math.isclose(lrs[1], expect, rel_tol=1e-9)
    with pytest.raises(ValueError, match="lr_schedule"):
        fit(build_model(latent_dim=2, hidden=(16,)), x, None, epochs=1, lr_schedule="step")


def test_feature_extraction_accepts_an_extractor_without_parameters():
    from vae_teach.fid import extract_features

    class Flat(torch.nn.Module):
        def features(self, x):
            return x.flatten(1)[:, :5]

    assert extract_features(torch.rand(3, 1, 28, 28), Flat()).shape == (3, 5)


def _flushed() -> bool:
    """True when the CPU treats float32 denormals as zero right now (FTZ / DAZ on this thread)."""
    tiny = torch.full((4,), 2.0 ** -140)  # a float32 denormal: below the smallest normal number, 2^-126
    return bool((tiny * 1.0 == 0).all())


def test_fit_and_the_iwae_evaluation_flush_denormals_and_restore_the_default_afterwards(monkeypatch):
    x = _toy(128)
    torch.manual_seed(0)
    model = build_model(latent_dim=4, hidden=(16,))
    assert not _flushed()
    seen = []
    fit(model, x, x[:32], epochs=2, batch_size=64, callback=lambda e, m, h: seen.append(_flushed()))
    assert seen == [True, True] and not _flushed()
    with precision.flush_denormals():          # nested: fit's own context must not switch it off on leaving
        fit(model, x, epochs=1, batch_size=64)
        assert _flushed()
    assert not _flushed()
    from vae_teach import evaluate
    calls = []
    real = evaluate._iwae.gaussian_log_weights
    monkeypatch.setattr(evaluate._iwae, "gaussian_log_weights",
                        lambda *a, **kw: calls.append(_flushed()) or real(*a, **kw))
    evaluate.iwae_log_likelihood(model, x[:8], k=4)
    assert calls and all(calls) and not _flushed()


def test_flushing_denormals_leaves_a_confident_decoders_loss_unchanged_and_its_gradient_within_1e_30():
    # Logits of a confident decoder: exp(-|l|) and sigmoid(l) underflow below 2^-126 into denormals.
    from vae_teach.losses import bce
    logits = torch.tensor([[-95.0, -90.0, -88.0, -3.0, 0.5, 91.0]]).repeat(4, 1).reshape(4, 1, 2, 3)
    x = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, 1.0]]).repeat(4, 1).reshape(4, 1, 2, 3)
    out = {}
    for flush in (False, True):
        l = logits.clone().requires_grad_(True)
        if flush:
            with precision.flush_denormals():
                assert _flushed()
                loss = bce(l, x)
                loss.backward()
        else:
            assert not _flushed()
            loss = bce(l, x)
            loss.backward()
        out[flush] = (loss.detach(), l.grad.clone())
    assert not _flushed()
    assert (out[False][1] != out[True][1]).any()               # the denormal gradients were there, and were flushed
    assert torch.equal(out[False][0], out[True][0])             # the loss: bit for bit the same
    assert (out[False][1] - out[True][1]).abs().max() < 1e-30   # the gradient: differs only below 1e-30


from vae_teach.train import make_adam as _MAKE_ADAM  # noqa: E402


def _lrs_per_step(monkeypatch, schedule, epochs=10):
    """The learning rate each optimizer step of a small ``fit`` ran at (4 steps per epoch)."""
    from vae_teach import train

    lrs = []
    real = _MAKE_ADAM  # the unpatched one: a second call must not stack on the first call's spy

    def spy(params, **kw):
        opt = real(params, **kw)
        step = opt.step

        def recorded_step(*a, **k):
            lrs.append(opt.param_groups[0]["lr"])
            return step(*a, **k)

        opt.step = recorded_step
        return opt

    monkeypatch.setattr(train, "make_adam", spy)
    torch.manual_seed(0)
    fit(build_model(latent_dim=2, hidden=(16,)), _toy(256), None, epochs=epochs, batch_size=64, lr=1e-2,
        lr_schedule=schedule)
    return lrs


def test_warmup_cosine_ramps_the_rate_up_over_the_first_tenth_then_follows_the_cosine(monkeypatch):
    warm, cos = _lrs_per_step(monkeypatch, "warmup_cosine"), _lrs_per_step(monkeypatch, "cosine")
    assert len(warm) == len(cos) == 40
    # steps 0-3 are the first tenth of 40: the cosine rate times 0, 1/4, 2/4, 3/4
    assert warm[0] == 0.0
    for t in range(4):
        assert math.isclose(warm[t], cos[t] * t / 4, rel_tol=1e-12, abs_tol=1e-15)
    assert warm[4:] == cos[4:] and max(warm) == warm[4]            # then the cosine itself, decaying from the peak
    assert math.isclose(cos[0], 1e-2) and math.isclose(cos[-1], 1e-2 / 20 + (1e-2 - 1e-2 / 20) * 0.5 * (1 + math.cos(math.pi * 39 / 40)))
