"""The model zoo: shipped weights load only when they are what the manifest says, and verify recomputes them."""
import shutil

import pytest
import torch

from vae_teach import zoo
from vae_teach.zoo import build, specs, store


@pytest.fixture()
def zoo_copy(tmp_path, monkeypatch):
    """The shipped weights and manifest copied to a temporary folder, so a test can damage them."""
    weights = tmp_path / "weights"
    shutil.copytree(store.WEIGHTS, weights)
    shutil.copy(store.MANIFEST, tmp_path / "manifest.json")
    monkeypatch.setattr(store, "WEIGHTS", weights)
    monkeypatch.setattr(store, "MANIFEST", tmp_path / "manifest.json")
    return tmp_path


def test_every_registered_model_is_shipped_with_a_manifest_entry_within_the_size_budget():
    manifest = store.read_manifest()
    assert set(manifest) == set(specs.SPECS)
    total = sum(store.weights_path(n).stat().st_size for n in specs.SPECS)
    assert total <= 40e6, f"all weights together: {total / 1e6:.2f} MB (budget 40 MB = 40,000,000 bytes)"
    for name, e in manifest.items():
        assert e["spec"] == specs.SPECS[name].digest(), f"{name} is stale"
        assert e["sha256"] == store.sha256(store.weights_path(name))
        assert {"train seconds", "cpu", "torch", "precision", "metrics"} <= set(e)


def test_load_gives_a_frozen_model_in_eval_mode_with_the_shipped_weights():
    clf = zoo.load("mnist_classifier")
    assert not clf.training and not any(p.requires_grad for p in clf.parameters())
    shipped = store.load_weights(store.weights_path("mnist_classifier"))
    torch.testing.assert_close(clf.state_dict()["head.weight"], shipped["head.weight"], rtol=0, atol=0)


def test_a_corrupt_file_is_refused_naming_the_file_and_the_command(zoo_copy):
    path = store.weights_path("mnist_classifier")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match=r"mnist_classifier\.safetensors\.xz is corrupt.*zoo train mnist_classifier"):
        zoo.load("mnist_classifier")


def test_a_shipped_file_is_xz_compressed_safetensors_whose_content_hash_is_the_manifests():
    import hashlib
    import json
    import lzma

    from safetensors.torch import load

    path = store.weights_path("vae_mnist_s0")
    raw = lzma.decompress(path.read_bytes())               # what `xz -d` gives: a plain safetensors file
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert header["to_mu.weight"]["dtype"] == "F16"
    assert hashlib.sha256(raw).hexdigest() == store.read_manifest()["vae_mnist_s0"]["sha256"]
    for k, v in load(raw).items():
        torch.testing.assert_close(store.load_weights(path)[k], v.float(), rtol=0, atol=0)
    assert path.stat().st_size < 0.9 * len(raw)            # the compression pays (about a seventh for fp16)


def test_weights_are_compressed_with_the_numbers_width_which_beats_xz_defaults():
    import lzma

    path = store.weights_path("vae_mnist_s0")              # fp16: 2-byte numbers
    raw = lzma.decompress(path.read_bytes())
    default = len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    assert len(store.compress(raw, itemsize=2)) < 0.97 * default
    assert path.stat().st_size < 0.97 * default            # the shipped file was written that way
    assert lzma.decompress(store.compress(raw, itemsize=4)) == raw   # lossless at every width


def test_a_truncated_file_is_refused_as_corrupt(zoo_copy):
    path = store.weights_path("mnist_classifier")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(zoo.ZooError, match=r"mnist_classifier\.safetensors\.xz is corrupt.*not a valid xz file"):
        zoo.load("mnist_classifier")


def test_a_missing_file_is_refused_naming_the_file_and_the_command(zoo_copy):
    store.weights_path("fashion_classifier").unlink()
    with pytest.raises(zoo.ZooError, match=r"fashion_classifier\.safetensors\.xz is missing.*zoo train fashion_classifier"):
        zoo.load("fashion_classifier")


def test_a_changed_spec_makes_the_weights_stale(zoo_copy, monkeypatch):
    old = specs.SPECS["mnist_classifier"]
    changed = specs.Spec(**{**old.__dict__, "recipe": {**old.recipe, "epochs": 4}})
    monkeypatch.setitem(specs.SPECS, "mnist_classifier", changed)
    with pytest.raises(zoo.ZooError, match="is stale.*zoo train mnist_classifier"):
        zoo.load("mnist_classifier")


def test_an_unknown_name_lists_the_zoo():
    with pytest.raises(KeyError, match="the zoo holds: mnist_classifier"):
        zoo.load("mnist_clasifier")


def test_verify_recomputes_the_shipped_metrics():
    assert build.verify() == []


def test_fp16_storage_would_keep_the_printed_accuracy(zoo_copy):
    """fp32 is shipped; this checks fp16 would also keep the metric at its printed precision (4 decimals)."""
    clf = zoo.load("mnist_classifier")
    store.save_weights("half", clf.state_dict(), torch.float16)
    half = build.build(specs.SPECS["mnist_classifier"])
    half.load_state_dict(store.load_weights(store.weights_path("half")))
    got = build.metrics(specs.SPECS["mnist_classifier"], half.eval())["test accuracy"]
    assert abs(got - store.read_manifest()["mnist_classifier"]["metrics"]["test accuracy"]) <= 0.0005


def test_retrain_reproduces_a_small_entry_within_its_tolerance(zoo_copy, monkeypatch):
    """`zoo verify --retrain`'s path on a one-epoch spec (a tiny budget), in a temporary zoo."""
    from vae_teach.__main__ import main

    old = specs.SPECS["mnist_classifier"]
    tiny = specs.Spec(**{**old.__dict__, "name": "tiny", "recipe": {**old.recipe, "epochs": 1}})
    monkeypatch.setitem(specs.SPECS, "tiny", tiny)
    first = build.train("tiny")
    assert first["metrics"]["test accuracy"] > 0.97
    assert main(["zoo", "verify", "--retrain", "tiny"]) == 0


def test_fp16_storage_keeps_every_vae_metric_at_the_precision_the_book_prints():
    """VAEs and AEs ship in fp16; the manifest measures the shipped weights and the fp32 ones before storage.
    The book prints these metrics to 0.1 nats: the round trip must not move them by more than 0.05."""
    manifest = store.read_manifest()
    half = [n for n, s in specs.SPECS.items() if build.STORAGE[s.kind] == torch.float16]
    assert half, "no fp16 entries"
    for name in half:
        shipped, fp32 = manifest[name]["metrics"], manifest[name]["metrics in fp32, before storage"]
        assert shipped.keys() == fp32.keys()
        for k in shipped:
            assert abs(shipped[k] - fp32[k]) < 0.05, (name, k, shipped[k], fp32[k])
        assert all(t.dtype == torch.float16 for t in store.stored_tensors(store.weights_path(name)).values()
                   if t.is_floating_point()), name


# The one family that misses the rule, on purpose: chapter 13's IWAE (k = 5) is kept at the 100 epochs of its k = 1
# twin (collapse_d50) so that the two compare at equal epochs; its test negative ELBO still fell by 0.2-0.3 nats over
# the last 10 epochs, and chapter 13 says so. Its allowance is stated here, so a larger miss still fails.
# The 300-epoch k = 5 model with warm-up (chapter 13) misses it by 0.01 (0.21 over its last 30 epochs): it is still
# improving when its budget ends, and chapter 13 asserts and says that.
NOT_CONVERGED = {"iwae_k5_d50": 0.35}


def test_every_vae_in_the_zoo_converged_under_its_recorded_history():
    """The budget rule: the test loss improved by under 0.2 nats over the last tenth of the epochs."""
    for name, s in specs.SPECS.items():
        if s.kind == "classifier":
            continue
        e = store.read_manifest()[name]
        h = e["history"]["test_loss"]
        k = max(1, len(h) // 10)
        assert len(h) == s.recipe["epochs"]
        assert h[-k - 1] - h[-1] < NOT_CONVERGED.get(name.rsplit("_s", 1)[0], 0.2), (name, h[-k - 1] - h[-1])
        assert e["improvement over the last tenth of the epochs (nats/image)"] == round(h[-k - 1] - h[-1], 3)


def test_a_family_is_every_seed_of_one_configuration_and_its_budget_line_comes_from_the_manifest():
    assert zoo.family("vae_mnist") == ["vae_mnist_s0", "vae_mnist_s1", "vae_mnist_s2"]
    assert "vae_mnist_d2_s0" not in zoo.family("vae_mnist")
    with pytest.raises(KeyError, match="no zoo configuration named 'vae_mnistt'"):
        zoo.family("vae_mnistt")
    e = store.read_manifest()["vae_mnist_s0"]
    line = zoo.budget("vae_mnist_s0")
    assert f"{len(e['history']['train_loss'])} epochs on all 60,000 continuous MNIST" in line
    assert f"{e['train seconds'] / 60:.1f} min" in line and "float16" in line
    h = zoo.history("vae_mnist_s0")
    assert h.test_loss == e["history"]["test_loss"] and h.epochs == 60
    with pytest.raises(zoo.ZooError, match="records no training history"):
        zoo.history("mnist_classifier")


def test_the_conditional_vae_is_shipped_as_its_own_kind_and_its_metric_is_the_conditional_elbo():
    """Chapter 15: kind "cvae" builds a ConditionalVAE; the manifest's metric needs the test labels."""
    from vae_teach import load_mnist
    from vae_teach.cvae import ConditionalVAE
    from vae_teach.evaluate import negative_elbo

    assert zoo.family("cvae_mnist") == ["cvae_mnist_s0", "cvae_mnist_s1", "cvae_mnist_s2"]
    model = zoo.load("cvae_mnist_s0")
    assert isinstance(model, ConditionalVAE) and build.STORAGE["cvae"] == torch.float16
    x, y = load_mnist(train=False)
    want = store.read_manifest()["cvae_mnist_s0"]["metrics"]["test negative conditional ELBO (nats/image)"]
    assert round(negative_elbo(model, x, labels=y), build.DECIMALS) == want
    with pytest.raises(ValueError, match="needs the label of every image"):
        negative_elbo(model, x[:10])
    assert zoo.budget("cvae_mnist_s0").startswith("cvae_mnist_s0: 30 epochs on all 60,000 continuous MNIST")



def test_zoo_nll_records_the_iwae_figure_in_the_manifest_and_leaves_the_weights_alone(zoo_copy):
    """`zoo nll` (chapters 12-14): -L_k on the static test binarization, recorded beside the training figures."""
    from vae_teach import evaluate, load_mnist
    from vae_teach.data import binarize_static

    sha = store.read_manifest()["collapse_d50_s0"]["sha256"]
    r = build.nll("collapse_d50_s0", k=3, n_test=20)
    e = store.read_manifest()["collapse_d50_s0"]
    assert e[build.NLL_KEY] == r and r["k"] == 3 and r["test images"] == 20
    assert e["sha256"] == sha == store.sha256(store.weights_path("collapse_d50_s0"))
    x = binarize_static(load_mnist(train=False)[0], seed=0)[:20]
    want = evaluate.iwae_nll(zoo.load("collapse_d50_s0"), x, k=3, batch_size=10, seed=0)
    assert abs(r["nats/image"] - want) < 1e-3
    assert build.verify(["collapse_d50_s0"]) == []


def test_zoo_nll_refuses_a_model_whose_bound_is_not_a_likelihood_of_binary_images():
    with pytest.raises(ValueError, match="not a VAE trained on binarized MNIST"):
        build.nll("vae_mnist_s0", k=2, n_test=5)
    with pytest.raises(ValueError, match="not a VAE trained on binarized MNIST"):
        build.nll("mnist_classifier", k=2, n_test=5)


def test_every_recorded_nll_is_the_full_protocol_and_below_the_models_elbo():
    """The manifest's IWAE figures: k = 5000 on all 10,000 test images, and (a bound tighter than the ELBO) below the
    test negative ELBO of the same images."""
    recorded = {n: e for n, e in store.read_manifest().items() if build.NLL_KEY in e}
    assert {"collapse_d50_s0", "iwae_k5_d50_s0", "hvae_mnist_s0"} <= set(recorded)
    for name, e in recorded.items():
        r = e[build.NLL_KEY]
        assert (r["k"], r["test images"], r["test binarization"]) == (5000, 10000, "binarize_static(seed=0)"), name
        assert r["nats/image"] < e["metrics"]["test negative ELBO (nats/image)"], name
        assert 0 < r["standard error"] < 1.0, name


def test_the_two_layer_vae_is_shipped_as_its_own_kind():
    """Chapter 14: kind "hierarchical" builds vae_teach.hierarchical's model and ships in fp16."""
    from vae_teach.hierarchical import HierarchicalVAE

    model = zoo.load("hvae_mnist_s0")
    assert isinstance(model, HierarchicalVAE) and not model.training
    assert build.STORAGE["hierarchical"] == torch.float16


def _tiny_vae(name, **recipe):
    return specs.Spec(name, "-", "vae", "mnist", model=dict(arch="mlp", latent_dim=2, hidden=[16]),
                      recipe=dict(epochs=1, batch_size=500, lr=3e-3, **recipe), precision="fp32")


def test_a_warm_restart_starts_from_its_parents_shipped_weights(zoo_copy, monkeypatch):
    parent = _tiny_vae("tiny_parent")
    monkeypatch.setitem(specs.SPECS, "tiny_parent", parent)
    parent_loss = build.train("tiny_parent")["metrics"]["test negative ELBO (nats/image)"]
    # A child whose learning rate is too small to move the weights ends where its parent is ...
    child = _tiny_vae("tiny_child", init_from="tiny_parent", init_spec=parent.digest())
    child = specs.Spec(**{**child.__dict__, "recipe": {**child.recipe, "lr": 1e-12}})
    monkeypatch.setitem(specs.SPECS, "tiny_child", child)
    got = build.train("tiny_child")["metrics"]["test negative ELBO (nats/image)"]
    assert got == pytest.approx(parent_loss, abs=1e-3)
    # ... where a fresh model with the same recipe is far from it.
    fresh = specs.Spec(**{**child.__dict__, "name": "tiny_fresh", "recipe": {**parent.recipe, "lr": 1e-12}})
    monkeypatch.setitem(specs.SPECS, "tiny_fresh", fresh)
    assert build.train("tiny_fresh")["metrics"]["test negative ELBO (nats/image)"] > parent_loss + 50
    assert "more, from tiny_parent's weights" in zoo.budget("tiny_child")


def test_a_warm_restart_refuses_a_parent_retrained_from_another_spec(zoo_copy, monkeypatch):
    monkeypatch.setitem(specs.SPECS, "tiny_parent", _tiny_vae("tiny_parent"))
    monkeypatch.setitem(specs.SPECS, "tiny_child", _tiny_vae("tiny_child", init_from="tiny_parent", init_spec="0" * 16))
    with pytest.raises(ValueError, match="continues 'tiny_parent' as trained from spec 0000000000000000"):
        build.train("tiny_child")


def test_zoo_train_puts_every_parent_before_the_models_that_start_from_it():
    from vae_teach.zoo.jobs import order, parents

    assert parents("vq_prior_mnist") == ["vqvae_mnist"]
    assert parents("iwae_k5_d50_e800_restart_s0") == ["iwae_k5_d50_warmup_e800_s0"]
    got = order(["iwae_k5_d50_e800_restart_s0", "vq_prior_mnist", "mnist_classifier", "vqvae_mnist",
                 "iwae_k5_d50_warmup_e800_s0"])
    assert got == ["iwae_k5_d50_warmup_e800_s0", "iwae_k5_d50_e800_restart_s0", "vqvae_mnist", "vq_prior_mnist",
                   "mnist_classifier"]
    assert order(["vq_prior_mnist"]) == ["vq_prior_mnist"]   # a parent not asked for is not trained


class _FakeProcess:
    """Stands in for `python -m vae_teach zoo train NAME`: finishes at its second poll, failing if told to."""
    started: list = []

    def __init__(self, cmd, env, stdout, stderr):
        self.name, self.threads, self.polls = cmd[-1], env["OMP_NUM_THREADS"], 0
        self.returncode = None
        _FakeProcess.started.append((self.name, self.threads, sorted(p.name for p in _FakeProcess.live)))
        _FakeProcess.live.append(self)

    def poll(self):
        self.polls += 1
        if self.polls >= 2:
            self.returncode = 1 if self.name in _FakeProcess.fail else 0
            if self in _FakeProcess.live:
                _FakeProcess.live.remove(self)
        return self.returncode


def test_zoo_train_jobs_splits_the_cores_and_waits_for_parents(monkeypatch, capsys, tmp_path):
    from vae_teach.zoo import jobs

    monkeypatch.setattr(jobs.subprocess, "Popen", _FakeProcess)
    _FakeProcess.started, _FakeProcess.live, _FakeProcess.fail = [], [], set()
    names = ["vq_prior_mnist", "vqvae_mnist", "mnist_classifier"]
    assert jobs.train_parallel(names, jobs=2, cores=2, poll=0, log_dir=tmp_path) == 0
    started = {n: (threads, alongside) for n, threads, alongside in _FakeProcess.started}
    assert all(threads == "1" for threads, _ in started.values())            # 2 cores, 2 jobs: 1 thread each
    assert started["mnist_classifier"][1] == ["vqvae_mnist"]                  # two at once ...
    assert "vqvae_mnist" not in started["vq_prior_mnist"][1]                  # ... but never a child beside its parent
    assert "3 model(s)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}.log" for n in sorted(names)]   # one log per model


def test_zoo_train_jobs_starts_nothing_new_after_a_failure(monkeypatch, capsys, tmp_path):
    from vae_teach.zoo import jobs

    monkeypatch.setattr(jobs.subprocess, "Popen", _FakeProcess)
    _FakeProcess.started, _FakeProcess.live, _FakeProcess.fail = [], [], {"vqvae_mnist"}
    assert jobs.train_parallel(["vqvae_mnist", "vq_prior_mnist"], jobs=2, cores=2, poll=0, log_dir=tmp_path) == 1
    assert [n for n, _, _ in _FakeProcess.started] == ["vqvae_mnist"]         # its child never started
    out = capsys.readouterr().out
    assert "failed: vqvae_mnist" in out and f"its output: {tmp_path / 'vqvae_mnist.log'}" in out
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        jobs.train_parallel(["vqvae_mnist"], jobs=0)


def test_zoo_list_ends_with_the_total_size_and_training_time(capsys):
    from vae_teach.__main__ import main

    assert main(["zoo", "list"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    total = sum(store.weights_path(n).stat().st_size for n in specs.SPECS) / 1e6
    minutes = sum(e["train seconds"] for e in store.read_manifest().values()) / 60
    assert last.startswith(f"{len(specs.SPECS)} weights files, {total:.2f} MB (budget 40 MB)")
    assert f"recorded training time {minutes:.0f} min" in last


def test_every_warm_restart_in_the_zoo_names_its_parents_current_spec():
    restarts = {n: s for n, s in specs.SPECS.items() if "init_from" in s.recipe}
    assert restarts, "the zoo holds no warm restart to check"
    for name, s in restarts.items():
        parent = s.recipe["init_from"]
        assert s.recipe["init_spec"] == specs.get(parent).digest() == store.read_manifest()[parent]["spec"], name
        assert list(specs.SPECS).index(parent) < list(specs.SPECS).index(name)   # `train --all` meets the parent first
