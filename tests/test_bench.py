"""BENCHMARKS.md's verdicts come from the measured numbers (no hand-written claims)."""
from vae_teach.tools.bench import _markdown, _speed_markdown


def _speed(ref_s, ours_s, ours_last):
    run = {"ref_seconds": [ref_s] * 2, "ref_test": [110.0, 106.0], "ours_seconds": [ours_s] * 2,
           "ours_test": [108.0, ours_last], "compute_only_s": 2.0}
    return {"epochs": 2, "rounds": 1, "target": 105.6, "runs": [run], "ref_epoch_s": ref_s,
            "ours_epoch_s": ours_s, "compute_only_s": 2.0}


def test_speed_verdicts_follow_the_measured_ratios():
    slow = "\n".join(_speed_markdown(_speed(9.0, 3.6, 105.61)))
    assert "speedup: 2.50x" in slow and "at least 4x): **not met**" in slow
    assert "did not reach 105.6" in slow and "target **not met**" in slow
    fast = "\n".join(_speed_markdown(_speed(10.0, 0.9, 105.5)))
    assert "speedup: 11.11x" in fast and "at least 4x): **met**" in fast
    assert "ratio 0.09; target at most 0.20: **met**" in fast


def test_nll_verdict_needs_the_full_protocol():
    nll = {"train minutes": 19.9, "IWAE NLL, k=5000 (nats/image)": 87.4, "k": 5000, "test images": 10000}
    assert "minutes of training): **met**." in _markdown(None, nll)
    short = {**nll, "test images": 1000}
    assert "**not met** (this run used a shorter protocol" in _markdown(None, short)
    worse = {**nll, "IWAE NLL, k=5000 (nats/image)": 90.5}
    assert "minutes of training): **not met**." in _markdown(None, worse)
