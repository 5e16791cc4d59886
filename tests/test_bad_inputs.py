"""A catalogue of bad inputs and faults (issue 17), one row each, across the whole package.

Every row calls the package the way a new user might get it wrong and asserts the exception type
and a phrase of its message (the argument, the value, what to do). Fault rows also assert that
nothing the user had was changed: the bytes of an existing checkpoint, a cached tensor, the weights.
CLI rows call ``vae_teach.__main__.main`` in-process and expect exit status 2 and an ``error:``
line on stderr, never a traceback. Data are tiny fake IDX files, so the file runs in seconds.
"""
from __future__ import annotations

import math
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest
import torch

from vae_teach import build_model, evaluate, fid, fit, kl, load_checkpoint, losses, save_checkpoint
from vae_teach import data as vdata
from vae_teach.__main__ import main
from vae_teach.data import DataNotFoundError, load_mnist
from vae_teach.models import ModelConfig
from vae_teach.train import TrainingDiverged

CLI = "cli"  # a row whose `run` returns argv: expect exit 2 and "error: <phrase>" on stderr


# ------------------------------------------------------------------------------------ fixtures
def write_idx(path: Path, arr: np.ndarray) -> None:
    """The MNIST container: 0, 0, 8 (uint8), ndim, big-endian sizes, then the bytes."""
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    path.write_bytes(head + arr.astype(np.uint8).tobytes())


def fake_mnist(root: Path, n_train: int = 64, n_test: int = 32) -> Path:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return root


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Fake data and one trained tiny checkpoint, built once for the whole table."""
    root = fake_mnist(tmp_path_factory.mktemp("data"))
    torch.manual_seed(0)
    m = build_model(latent_dim=2, hidden=(8,))
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    h = fit(m, x, None, epochs=1, batch_size=32)
    ckpt = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt", m, h, note="trained")
    return SimpleNamespace(root=root, ckpt=ckpt)


@pytest.fixture
def env(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TEACH_DATA", str(shared.root))
    ckpt = tmp_path / "checkpoint.pt"
    shutil.copy(shared.ckpt, ckpt)
    torch.manual_seed(0)
    return SimpleNamespace(tmp=tmp_path, root=shared.root, ckpt=ckpt, ckpt_bytes=ckpt.read_bytes(),
                           model=build_model(latent_dim=2, hidden=(8,)),
                           x=torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1)),
                           mp=monkeypatch, state={})


@dataclass
class Case:
    area: str
    name: str
    run: Callable[[SimpleNamespace], Any]
    raises: Any  # an exception type, a Warning type, CLI, or None (a fault row: only `check`)
    phrase: str = ""
    check: Callable[[SimpleNamespace, Any], None] | None = None


# ------------------------------------------------------------------------------------ helpers
def ckpt_unchanged(e, _result=None):
    assert e.ckpt.read_bytes() == e.ckpt_bytes, "the existing checkpoint was changed"
    model, hist, extra = load_checkpoint(e.ckpt)
    assert extra == {"note": "trained"} and hist.epochs == 1
    assert not [p for p in e.ckpt.parent.iterdir() if p.name.endswith(".tmp")], "a temporary file was left"


def weights_unchanged(e, _result=None):
    torch.manual_seed(0)  # the env fixture built e.model right after this seed
    fresh = build_model(latent_dim=2, hidden=(8,))
    for a, b in zip(e.model.parameters(), fresh.parameters()):
        assert torch.equal(a, b), "fit changed the weights before refusing"


def corrupt_file(e, path: Path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def data_with(e, **replace) -> Path:
    """A copy of the fake data root with some files replaced (bytes) or by folders (None)."""
    root = e.tmp / "d"
    shutil.copytree(e.root, root)
    raw = root / "MNIST" / "raw"
    for name, content in replace.items():
        f = raw / name.replace("_", "-")
        f.unlink()
        if content is None:
            f.mkdir()
        else:
            f.write_bytes(content)
    return root


def poison_cache(e):
    x, _ = load_mnist(False)
    x -= 0.5  # a reader's in-place edit
    x[0].fill_(7.0)
    return load_mnist(False)[0]


def cache_clean(e, again):
    assert float(again.min()) >= 0.0 and float(again.max()) <= 1.0


def save_interrupted(e):
    """torch.save writes half a file and then fails (full disk, Ctrl-C)."""
    def half_then_fail(obj, f, *a, **k):
        Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")
    e.mp.setattr(torch, "save", half_then_fail)
    save_checkpoint(e.ckpt, e.model, None)


def old_checkpoint(e, drop=(), **set_):
    blob = torch.load(e.ckpt, weights_only=True)
    for k in drop:
        del blob["config"][k]
    blob.update(set_)
    path = e.tmp / "old.pt"
    torch.save(blob, path)
    return path


def mismatched_checkpoint(e):
    blob = torch.load(e.ckpt, weights_only=True)
    blob["config"]["latent_dim"] = 5
    torch.save(blob, e.tmp / "mis.pt")
    return load_checkpoint(e.tmp / "mis.pt")


def callback_stops(value):
    def run(e):
        return fit(e.model, e.x, None, epochs=3, batch_size=8, callback=lambda *a: value)
    return run


def one_epoch(e, hist):
    assert hist.epochs == 1


def interrupt(e):
    def cb(epoch, model, hist):
        if epoch == 2:
            raise KeyboardInterrupt
    fit(e.model, e.x, e.x[:4], epochs=5, batch_size=8, callback=cb)


def interrupted_kept_history(e, err):
    assert err.history.epochs == 2 and len(err.history.test_loss) == 2
    assert not e.model.training


def blowup_inside_epoch(e):
    """The step snapshot itself holds NaN (a weight corrupted behind autograd's back, loss still finite):
    the guard must fall back to the weights at the start of the epoch."""
    ae = e.state["ae"] = build_model(kind="ae", latent_dim=2, hidden=(8,))
    armed = {"on": False}

    def recon(x, params, model):
        out = (torch.sigmoid(params) - x).pow(2).flatten(1).sum(1)
        if armed["on"] and model.training:
            armed["on"] = False
            model.decoder.body[-1].weight.data[0, 0] = float("nan")  # after the forward: loss stays finite
        return out

    def cb(epoch, model, hist):
        e.state["after1"] = [p.detach().clone() for p in model.parameters()]
        armed["on"] = True

    fit(ae, e.x, None, epochs=3, batch_size=4, recon=recon, callback=cb)


def restored_epoch_start(e, err):
    assert err.epoch == 2 and err.history.epochs == 1
    for p, q in zip(e.state["ae"].parameters(), e.state["after1"]):
        assert torch.isfinite(p).all() and torch.equal(p, q)


def cli_epochs0(e):
    return ["train", "--epochs", "0", "--out", str(e.tmp)]


def cli_out_file(e):
    return ["train", "--epochs", "1", "--out", str(e.ckpt)]


def per_pixel_elbo(e):
    n = 28  # N equal to the image side: [N, 1, 28, 28] + [N] used to broadcast silently
    return losses.negative_elbo(None, torch.rand(n, 1, 28, 28), torch.zeros(n, 2), torch.zeros(n, 2))


def float64_model_input(e):
    return e.model.encode(e.x.double())


def cast_to_model(e, out):
    mu, logvar = out
    torch.testing.assert_close(mu, e.model.encode(e.x)[0])
    assert mu.dtype == torch.float32


def numpy_extra(e):
    p = save_checkpoint(e.tmp / "np.pt", e.model, None, loss=np.float64(101.5), ok=np.bool_(True),
                        arr=np.arange(3))
    return load_checkpoint(p)[2]


def numpy_extra_loaded(e, extra):
    assert extra["loss"] == 101.5 and type(extra["loss"]) is float and extra["ok"] is True
    assert torch.equal(extra["arr"], torch.arange(3))


def bad_sigma(kind):
    def run(e):
        s = np.eye(3)
        if kind == "asym":
            s[0, 1] = 0.5
        elif kind == "neg":
            s[0, 0] = -1.0
        else:
            s[1, 1] = np.nan
        return fid.frechet_distance(np.zeros(3), s, np.zeros(3), np.eye(3))
    return run


def check_fn(name):
    from vae_teach import checks
    return getattr(checks, f"check_{name}")


# ---------------------------------------------------------------------------------------- table
M = lambda **kw: (lambda e: ModelConfig(**kw))  # noqa: E731
U8 = lambda e: (e.x * 255).to(torch.uint8)  # noqa: E731
NAN = float("nan")

CASES = [
    # data
    Case("data", "images file is a folder", lambda e: load_mnist(True, data_with(e, train_images_idx3_ubyte=None)),
         DataNotFoundError, "cannot read the data file"),
    Case("data", "empty data folder", lambda e: load_mnist(True, e.tmp), DataNotFoundError, "Searched folder"),
    Case("data", "root is a file", lambda e: load_mnist(True, e.ckpt), DataNotFoundError, "not found"),
    Case("data", "truncated images file", lambda e: load_mnist(True, data_with(
        e, train_images_idx3_ubyte=bytes([0, 0, 8, 3]) + (64).to_bytes(4, "big") + bytes(8) + bytes(100))),
        DataNotFoundError, "truncated or corrupt"),
    Case("data", "not an IDX file", lambda e: load_mnist(True, data_with(e, train_labels_idx1_ubyte=b"<html>")),
         DataNotFoundError, "bad header"),
    Case("data", "in-place edit of a loaded tensor", poison_cache, None, check=cache_clean),
    Case("data", "binarize uint8", lambda e: vdata.binarize_static(U8(e)), TypeError, "float tensor"),
    Case("data", "binarize pixels 0..255", lambda e: vdata.binarize_static(e.x * 255), ValueError, "[0, 1]"),
    Case("data", "batch_size 0", lambda e: list(vdata.batches(e.x, 0)), ValueError, "batch_size must be positive"),
    # models
    Case("models", "latent 2.5", M(latent_dim=2.5), TypeError, "latent_dim must be an integer, got float 2.5"),
    Case("models", "latent 0", M(latent_dim=0), ValueError, "latent_dim >= 1, got 0"),
    Case("models", "negative hidden", M(hidden=(400, -5)), ValueError, "hidden[1] >= 1, got -5"),
    Case("models", "hidden as an int", M(hidden=400), TypeError, "hidden=(400,)"),
    Case("models", "one conv channel", M(arch="conv", channels=(32,)), ValueError, "two sizes"),
    Case("models", "zero conv channel", M(arch="conv", channels=(32, 0)), ValueError, "channels[1] >= 1"),
    Case("models", "conv with two hidden", M(arch="conv", hidden=(400, 200)), ValueError, "at most one hidden"),
    Case("models", "unknown kind", M(kind="gan"), ValueError, "ModelConfig.kind must be one of"),
    Case("models", "dropout 1.5", M(dropout=1.5), ValueError, "dropout must be in [0, 1)"),
    Case("models", "uint8 images", lambda e: e.model(U8(e)), TypeError, "x.float() / 255"),
    Case("models", "float64 images are cast", float64_model_input, None, check=cast_to_model),
    Case("models", "flat images", lambda e: e.model(e.x.view(16, -1)), ValueError, "x.view(-1, 1, 28, 28)"),
    Case("models", "a list", lambda e: e.model.encode([[0.0]]), TypeError, "torch.Tensor"),
    Case("models", "wrong latent size", lambda e: e.model.decode(torch.zeros(3, 5)), ValueError, "[N, 2]"),
    Case("models", "integer latents", lambda e: e.model.decode(torch.zeros(3, 2, dtype=torch.long)), TypeError,
         "float latents"),
    # losses
    Case("losses", "reduction misspelled", lambda e: losses.loss_terms(e.model, e.x, reduction="summ"),
         ValueError, "reduction must be 'mean', 'sum' or 'none', got 'summ'"),
    Case("losses", "reduction sum sums", lambda e: (losses.mse(e.x * 0, e.x, "sum"), losses.mse(e.x * 0, e.x)),
         None, check=lambda e, r: torch.testing.assert_close(r[0], r[1] * 16)),
    Case("losses", "mse reduction avg", lambda e: losses.mse(e.x, e.x, reduction="avg"), ValueError, "'avg'"),
    Case("losses", "mse on uint8", lambda e: losses.mse(U8(e), U8(e)), TypeError, "float tensor, got dtype torch.uint8"),
    Case("losses", "bce targets 0..255", lambda e: losses.bce(e.x, e.x * 255), ValueError, "pixel / 255"),
    Case("losses", "bce shapes differ", lambda e: losses.bce(e.x[:, :, :27], e.x), ValueError, "shape"),
    Case("losses", "per-pixel recon into negative_elbo", per_pixel_elbo, ValueError, "one value per image"),
    Case("losses", "negative_elbo beta -1", lambda e: losses.negative_elbo(None, torch.zeros(2), torch.zeros(2, 2),
         torch.zeros(2, 2), beta=-1), ValueError, "beta >= 0, got -1"),
    Case("losses", "loss_terms beta -1", lambda e: losses.loss_terms(e.model, e.x, beta=-1), ValueError, "beta >= 0"),
    Case("losses", "beta nan", lambda e: losses.loss_terms(e.model, e.x, beta=NAN), ValueError, "finite"),
    Case("losses", "gaussian logvar a string", lambda e: losses.gaussian_nll(e.x, e.x, "big"), TypeError,
         "logvar must be a number"),
    Case("losses", "bce on a Gaussian decoder", lambda e: losses.loss_terms(build_model(
        latent_dim=2, hidden=(8,), decoder="gaussian"), e.x, recon="bce"), ValueError, "needs a Bernoulli decoder"),
    Case("losses", "unknown recon", lambda e: losses.loss_terms(e.model, e.x, recon="l2"), ValueError,
         "recon must be one of"),
    Case("losses", "recon callable per pixel", lambda e: losses.loss_terms(
        e.model, e.x, recon=lambda x, p, m: (torch.sigmoid(p) - x).pow(2)), ValueError, "per-image values of shape [N]"),
    # KL
    Case("kl", "per-sample prior [N, 1]", lambda e: kl.kl_diag_gaussians(
        torch.zeros(3, 3), torch.zeros(3, 3), prior_mu=torch.arange(3.0).view(3, 1)), ValueError,
        "got shape (3, 1); for one prior value per sample, expand it to [N, D]"),
    Case("kl", "prior [1, N, D]", lambda e: kl.kl_diag_gaussians(torch.zeros(4, 2), torch.zeros(4, 2),
         prior_logvar=torch.zeros(1, 4, 2)), ValueError, "prior_logvar must be a number, shape [D]"),
    Case("kl", "mu / logvar shapes", lambda e: kl.kl_diag_gaussians(torch.zeros(4, 2), torch.zeros(4, 3)),
         ValueError, "logvar has shape (4, 3)"),
    Case("kl", "1-d mu", lambda e: kl.kl_diag_gaussians(torch.zeros(4), torch.zeros(4)), ValueError,
         "leading batch dimension"),
    Case("kl", "integer mu", lambda e: kl.kl_diag_gaussians(torch.zeros(4, 2, dtype=torch.long),
         torch.zeros(4, 2, dtype=torch.long)), TypeError, "mu must be a float tensor"),
    Case("kl", "prior a string", lambda e: kl.kl_diag_gaussians(torch.zeros(4, 2), torch.zeros(4, 2), prior_mu="0"),
         TypeError, "prior_mu must be a torch.Tensor or a number"),
    Case("kl", "Monte Carlo prior [N]", lambda e: kl.kl_monte_carlo(torch.zeros(4, 2), torch.zeros(4, 2),
         prior_mu=torch.zeros(4)), ValueError, "[N, D] = [4, 2]"),
    # training
    Case("train", "0 images", lambda e: fit(e.model, e.x[:0], epochs=1), ValueError, "holds 0 images"),
    Case("train", "NaN in the train data", lambda e: fit(e.model, torch.where(e.x > 0.99, NAN, e.x), epochs=1),
         ValueError, "NaN or infinite value(s)", check=weights_unchanged),
    Case("train", "inf in the test data", lambda e: fit(e.model, e.x, torch.full((2, 1, 28, 28), math.inf), epochs=1),
         ValueError, "test_images contains"),
    Case("train", "beta -1", lambda e: fit(e.model, e.x, beta=-1, epochs=1), ValueError, "beta >= 0"),
    Case("train", "epochs -1", lambda e: fit(e.model, e.x, epochs=-1), ValueError, "epochs >= 0, got -1"),
    Case("train", "epochs 2.5", lambda e: fit(e.model, e.x, epochs=2.5), TypeError, "epochs must be an integer"),
    Case("train", "batch_size 0", lambda e: fit(e.model, e.x, epochs=1, batch_size=0), ValueError, "batch_size >= 1"),
    Case("train", "lr nan", lambda e: fit(e.model, e.x, epochs=1, lr=NAN), ValueError, "lr must be a finite number"),
    Case("train", "test images of another size", lambda e: fit(e.model, e.x, torch.rand(4, 1, 14, 14), epochs=5),
         ValueError, "test_images cannot be used", check=weights_unchanged),
    Case("train", "bce on Gaussian decoder, before epoch 1", lambda e: fit(build_model(
        latent_dim=2, hidden=(8,), decoder="gaussian"), e.x, recon="bce", epochs=5), ValueError,
        "train_images cannot be used with this model and objective: recon='bce'"),
    Case("train", "uint8 images", lambda e: fit(e.model, U8(e), epochs=1), TypeError, "divide uint8 pixels by 255"),
    Case("train", "binarize static", lambda e: fit(e.model, e.x, epochs=1, binarize="static"), ValueError,
         "binarize must be None or 'dynamic'"),
    Case("train", "callback returns a number", callback_stops(3.0), TypeError, "callback must return None"),
    Case("train", "callback returns np.True_", callback_stops(np.True_), None, check=one_epoch),
    Case("train", "callback returns tensor(True)", callback_stops(torch.tensor(True)), None, check=one_epoch),
    Case("train", "callback not callable", lambda e: fit(e.model, e.x, epochs=1, callback="print"), TypeError,
         "callback must be a function"),
    Case("train", "history not a History", lambda e: fit(e.model, e.x, epochs=1, history=[]), TypeError,
         "history must be a vae_teach.train.History"),
    Case("train", "Ctrl-C in epoch 2", interrupt, KeyboardInterrupt, "", check=interrupted_kept_history),
    Case("train", "blown-up step snapshot", blowup_inside_epoch, TrainingDiverged, "start of epoch 2",
         check=restored_epoch_start),
    # checkpoints
    Case("ckpt", "unpicklable extra", lambda e: save_checkpoint(e.ckpt, e.model, None, fn=lambda: 0), TypeError,
         "extra['fn'] is a function", check=ckpt_unchanged),
    Case("ckpt", "save fails half-way", save_interrupted, OSError, "No space left", check=ckpt_unchanged),
    Case("ckpt", "numpy values in extras", numpy_extra, None, check=numpy_extra_loaded),
    Case("ckpt", "old file without decoder", lambda e: load_checkpoint(old_checkpoint(e, drop=("decoder",))),
         ValueError, "lacks ['decoder']"),
    Case("ckpt", "newer version", lambda e: load_checkpoint(old_checkpoint(e, version=99)), ValueError,
         "checkpoint version 99"),
    Case("ckpt", "truncated file", lambda e: load_checkpoint(
        (e.tmp / "t.pt").write_bytes(e.ckpt_bytes[:500]) and e.tmp / "t.pt"), ValueError, "corrupt or truncated"),
    Case("ckpt", "load a folder", lambda e: load_checkpoint(e.tmp), IsADirectoryError, "is a folder"),
    Case("ckpt", "save to a folder", lambda e: save_checkpoint(e.tmp, e.model), IsADirectoryError, "give a file name"),
    Case("ckpt", "missing file", lambda e: load_checkpoint(e.tmp / "nope.pt"), FileNotFoundError, "no checkpoint"),
    Case("ckpt", "config and weights disagree", mismatched_checkpoint, ValueError, "do not rebuild a model"),
    # evaluation
    Case("evaluate", "negative ELBO of 0 images", lambda e: evaluate.negative_elbo(e.model, e.x[:0]), ValueError,
         "holds 0 images"),
    Case("evaluate", "IWAE k 0", lambda e: evaluate.iwae_nll(e.model, e.x, k=0), ValueError, "k >= 1, got 0"),
    Case("evaluate", "IWAE on an AE", lambda e: evaluate.iwae_nll(build_model(kind="ae", latent_dim=2, hidden=(8,)),
         e.x), TypeError, "needs a VAE"),
    Case("evaluate", "active units of 1 image", lambda e: evaluate.active_units(e.model, e.x[:1]), ValueError,
         "at least 2 images"),
    Case("evaluate", "uint8 images", lambda e: evaluate.negative_elbo(e.model, U8(e)), TypeError, "float tensor"),
    Case("evaluate", "NaN images", lambda e: evaluate.negative_elbo(e.model, e.x * NAN), ValueError, "NaN"),
    # FID
    Case("fid", "mu lengths differ", lambda e: fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)),
         ValueError, "same length"),
    Case("fid", "sigma not symmetric", bad_sigma("asym"), ValueError, "sigma1 is not symmetric"),
    Case("fid", "sigma negative eigenvalue", bad_sigma("neg"), ValueError, "negative eigenvalue"),
    Case("fid", "sigma NaN", bad_sigma("nan"), ValueError, "sigma1 contains NaN"),
    Case("fid", "statistics of 1 sample", lambda e: fid.feature_statistics(np.zeros((1, 64))), ValueError,
         "N >= 2"),
    Case("fid", "fewer samples than dims", lambda e: fid.feature_statistics(np.random.rand(10, 64)),
         fid.FewSamplesWarning, "only 10 samples for 64-dimensional"),
    Case("fid", "fid of 1 image", lambda e: fid.fid(e.x[:1], e.x), ValueError, "at least 2 images"),
    Case("fid", "fid of pixels 0..255", lambda e: fid.fid(e.x * 255, e.x), ValueError, "float images in [0, 1]"),
    Case("fid", "unknown extractor", lambda e: fid.extract_features(e.x, "vgg"), ValueError, "extractor must be one of"),
    # exercise checkers (type refusals that already exist; the time limit is tested with the checkers)
    Case("checks", "a value instead of a function", lambda e: check_fn("flatten_images")(42), AssertionError,
         "expected a function"),
    Case("checks", "a function returning a string", lambda e: check_fn("flatten_images")(lambda x: "784"),
         AssertionError, "got str"),
    Case("checks", "a function instead of a value", lambda e: check_fn("kl_value")(lambda: 1.0), AssertionError,
         "got a function"),
    # command line
    Case("cli", "--epochs 0 over a trained checkpoint", cli_epochs0, CLI, "--epochs: must be >= 1, got 0",
         check=ckpt_unchanged),
    Case("cli", "--out an existing file", cli_out_file, CLI, "is an existing file", check=ckpt_unchanged),
    Case("cli", "--limit -5", lambda e: ["train", "--limit", "-5", "--out", str(e.tmp)], CLI,
         "--limit: must be >= 0, got -5"),
    Case("cli", "--latent 0", lambda e: ["train", "--latent", "0", "--out", str(e.tmp)], CLI, "--latent: must be >= 1"),
    Case("cli", "--lr -1", lambda e: ["train", "--lr", "-1", "--out", str(e.tmp)], CLI, "--lr: must be a positive"),
    Case("cli", "--batch-size 0", lambda e: ["train", "--batch-size", "0", "--out", str(e.tmp)], CLI, "--batch-size"),
    Case("cli", "--hidden -3", lambda e: ["train", "--hidden", "400", "-3", "--out", str(e.tmp)], CLI, "--hidden"),
    Case("cli", "--epochs abc", lambda e: ["train", "--epochs", "abc", "--out", str(e.tmp)], CLI,
         "expected an integer, got 'abc'"),
    Case("cli", "--arch resnet", lambda e: ["train", "--arch", "resnet", "--out", str(e.tmp)], CLI, "invalid choice"),
    Case("cli", "--data a missing folder", lambda e: ["train", "--data", str(e.tmp / "none"), "--out", str(e.tmp)],
         CLI, "MNIST not found"),
    Case("cli", "--out under a file", lambda e: ["train", "--out", str(e.ckpt / "sub")], CLI, "argument --out"),
    Case("cli", "no command", lambda e: [], CLI, "required"),
]


def test_the_table_covers_every_area_with_at_least_60_rows():
    areas = {c.area for c in CASES}
    assert len(CASES) >= 60
    assert areas == {"data", "models", "losses", "kl", "train", "ckpt", "evaluate", "fid", "checks", "cli"}
    assert len({(c.area, c.name) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}: {c.name}" for c in CASES])
def test_bad_input(case: Case, env, capsys):
    result = None
    if case.raises is CLI:
        rc = main(case.run(env))
        err = capsys.readouterr().err
        assert rc == 2, err
        assert "error:" in err and case.phrase in err and "Traceback" not in err, err
    elif case.raises is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a documented cast or fix must be silent
            result = case.run(env)
    elif issubclass(case.raises, Warning):
        with pytest.warns(case.raises) as rec:
            result = case.run(env)
        assert any(case.phrase in str(w.message) for w in rec), [str(w.message) for w in rec]
    else:
        with pytest.raises(case.raises) as info:
            case.run(env)
        assert case.phrase in str(info.value), str(info.value)
        result = info.value
    if case.check is not None:
        case.check(env, result)


def test_an_interrupted_save_leaves_the_old_checkpoint_loadable(env):
    """torch.save writes garbage half-way and raises: the file at the path is byte-for-byte the old one."""
    calls = []

    def garbage_then_fail(obj, f, *a, **k):
        calls.append(Path(f))
        Path(f).write_bytes(b"\x80\x02garbage" * 100)
        raise KeyboardInterrupt  # even Ctrl-C in the middle of the write

    env.mp.setattr(torch, "save", garbage_then_fail)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(env.ckpt, env.model, None, note="untrained")
    env.mp.undo()
    assert calls and calls[0] != env.ckpt and calls[0].parent == env.ckpt.parent  # wrote beside, not onto
    ckpt_unchanged(env)
