"""BENCHMARKS.md's verdicts come from the measured numbers, and a bench run keeps what it did not re-measure."""
import json
from types import SimpleNamespace

import pytest

from test_bad_inputs import fake_mnist
from vae_teach.tools import bench
from vae_teach.tools.bench import _markdown, _speed_markdown


def _speed(ref_s, fp32_s, bf16_s, bf16_last, recipe_last):
    run = {"ref_seconds": [ref_s] * 2, "ref_test": [110.0, 106.0],
           "fp32_seconds": [fp32_s] * 2, "fp32_test": [108.0, 105.7],
           "bf16_seconds": [bf16_s] * 2, "bf16_test": [108.0, bf16_last],
           "fp32_recipe_seconds": [fp32_s] * 2, "fp32_recipe_test": [107.0, recipe_last],
           "bf16_recipe_seconds": [bf16_s] * 2, "bf16_recipe_test": [107.0, recipe_last],
           "compute_only_fp32_s": 2.0, "compute_only_bf16_s": 1.0}
    return {"epochs": 2, "rounds": 1, "target": 105.6, "precisions": ["fp32", "bf16"], "recipe": {"lr": 3e-3},
            "runs": [run], "ref_epoch_s": ref_s, "fp32_epoch_s": fp32_s, "bf16_epoch_s": bf16_s,
            "compute_only_fp32_s": 2.0, "compute_only_bf16_s": 1.0}


def test_speed_verdicts_follow_the_measured_ratios():
    slow = "\n".join(_speed_markdown(_speed(9.0, 3.6, 3.0, 106.2, 105.61)))
    assert "speedup fp32: 2.50x" in slow and "speedup bf16: 3.00x per epoch (target: at least 4x): **not met**, 1.33x short" in slow
    assert "largest gap 0.50 nats" in slow and "(target at most 0.3: **not met**)" in slow
    assert "did not reach 105.6" in slow and "target **not met**" in slow
    fast = "\n".join(_speed_markdown(_speed(10.0, 3.0, 0.9, 105.8, 105.5)))
    assert "speedup bf16: 11.11x per epoch (target: at least 4x): **met**" in fast
    assert "(target at most 0.3: **met**)" in fast
    assert "round 1, bf16: `fit` reached 105.6 nats per image after 2 epochs, 1.8 s" in fast
    assert "ratio 0.09; target at most 0.25: **met**" in fast


def test_nll_verdict_needs_the_full_protocol():
    nll = {"train minutes": 19.9, "IWAE NLL, k=5000 (nats/image)": 86.5, "k": 5000, "test images": 10000}
    assert "minutes of training): **met**." in _markdown(None, nll)
    short = {**nll, "test images": 1000}
    assert "**not met** (this run used a shorter protocol" in _markdown(None, short)
    worse = {**nll, "IWAE NLL, k=5000 (nats/image)": 87.45}
    assert "minutes of training): **not met**, by 0.69 nats." in _markdown(None, worse)


def test_a_speed_run_keeps_the_recorded_likelihood_section(tmp_path, monkeypatch):
    """`bench` (speed only) in a fresh copy must not erase the likelihood figures it did not re-measure."""
    root = fake_mnist(tmp_path / "data", n_train=64, n_test=32)
    recorded = {"nll": {"model": "MLP 784-512-512-50, Bernoulli decoder", "train minutes": 19.9,
                        "IWAE NLL, k=5000 (nats/image)": 86.5, "k": 5000, "test images": 10000}}
    (tmp_path / "benchmarks.json").write_text(json.dumps(recorded))
    monkeypatch.setattr(bench, "RECIPE", dict(epochs=1, batch_size=128, lr=3e-3, lr_schedule="cosine"))
    args = SimpleNamespace(nll_only=False, nll=False, epochs=1, target=105.6, rounds=1, data=str(root),
                           out=str(tmp_path / "BENCHMARKS.md"))
    assert bench.main(args) == 0
    stored = json.loads((tmp_path / "benchmarks.json").read_text())
    assert stored["nll"] == recorded["nll"] and stored["speed"][bench._cpu()]["epochs"] == 1
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert "## Likelihood" in md and "- IWAE NLL, k=5000 (nats/image): 86.5" in md
    assert f"## Training speed on {bench._cpu()}" in md and "speedup fp32:" in md


def test_a_speed_run_keeps_the_speed_section_of_another_cpu(tmp_path, monkeypatch):
    """A run on one CPU model replaces that model's speed section only: another machine's (here an old single-run
    file, as written before runs were kept per CPU) stays, with its own bf16 figures."""
    root = fake_mnist(tmp_path / "data", n_train=64, n_test=32)
    other = {**_speed(9.0, 3.6, 3.0, 106.2, 105.61), "cpu": "Some Other CPU", "measured": "2026-01-01"}
    (tmp_path / "benchmarks.json").write_text(json.dumps({"speed": other}))
    monkeypatch.setattr(bench, "RECIPE", dict(epochs=1, batch_size=128, lr=3e-3, lr_schedule="warmup_cosine"))
    args = SimpleNamespace(nll_only=False, nll=False, epochs=1, target=105.6, rounds=1, data=str(root),
                           out=str(tmp_path / "BENCHMARKS.md"))
    assert bench.main(args) == 0
    stored = json.loads((tmp_path / "benchmarks.json").read_text())["speed"]
    assert set(stored) == {"Some Other CPU", bench._cpu()} and stored["Some Other CPU"] == other
    md = (tmp_path / "BENCHMARKS.md").read_text()
    assert md.index(f"## Training speed on {bench._cpu()}") < md.index("## Training speed on Some Other CPU")
    assert "speedup bf16: 3.00x per epoch" in md                     # the other machine's bf16 figure survives


def test_the_likelihood_bench_warms_the_kl_weight_up_over_the_first_tenth_of_its_budget_then_trains_the_elbo():
    from vae_teach.tools.likelihood_bench import kl_weight

    assert kl_weight(0.0) == 0.0 and kl_weight(0.05) == pytest.approx(0.5) and kl_weight(0.1) == 1.0
    assert kl_weight(0.7) == 1.0 and kl_weight(0.3, warmup=0) == 1.0


def test_the_likelihood_bench_runs_its_protocol_on_a_tiny_budget_and_keeps_what_it_trained(tmp_path):
    import math

    from vae_teach.tools.likelihood_bench import run_nll_benchmark

    root = fake_mnist(tmp_path / "data", n_train=64, n_test=32)
    r = run_nll_benchmark(minutes=0.01, k=3, root=str(root), n_test=20, verbose=False, precision="fp32",
                          model_kwargs=dict(hidden=(16,), latent_dim=2), checkpoint=str(tmp_path / "c.pt"))
    assert r["epochs"] >= 1 and r["k"] == 3 and r["test images"] == 20 and "10%" in r["KL warm-up"]
    assert math.isfinite(r["IWAE NLL, k=3 (nats/image)"]) and r["training precision"] == "fp32"
    assert (tmp_path / "c.pt").exists()
