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
    assert total <= 40 * 2**20, f"all weights together: {total / 2**20:.1f} MB (budget 40 MB)"
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
    with pytest.raises(zoo.ZooError, match=r"mnist_classifier\.safetensors is corrupt.*zoo train mnist_classifier"):
        zoo.load("mnist_classifier")


def test_a_missing_file_is_refused_naming_the_file_and_the_command(zoo_copy):
    store.weights_path("fashion_classifier").unlink()
    with pytest.raises(zoo.ZooError, match=r"fashion_classifier\.safetensors is missing.*zoo train fashion_classifier"):
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
