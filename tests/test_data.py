"""Data loading, its errors, binarization and the in-memory batch iterator."""
import os

import pytest
import torch

from vae_teach import data
from vae_teach.data import DataNotFoundError, batches, binarize_dynamic, binarize_static, load_fashion_mnist, load_mnist

needs_data = pytest.mark.skipif(not (data.data_root() / "MNIST" / "raw").is_dir(),
                                reason="MNIST not found under $VAE_TEACH_DATA")


@needs_data
def test_load_mnist_shapes_range_and_known_statistics():
    x, y = load_mnist(train=True)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (60000,) and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert abs(float(x.mean()) - 0.1307) < 1e-3 and y[:5].tolist() == [5, 0, 4, 1, 9]
    xt, yt = load_mnist(train=False)
    assert xt.shape == (10000, 1, 28, 28) and yt[:5].tolist() == [7, 2, 1, 0, 4]


@needs_data
def test_load_fashion_mnist_shapes():
    x, y = load_fashion_mnist(train=False)
    assert x.shape == (10000, 1, 28, 28) and int(y.max()) == 9


@needs_data
def test_load_is_cached_in_memory_and_returns_a_copy_an_edit_cannot_poison():
    from vae_teach import data

    a, _ = load_mnist(train=False)
    assert any(k[0] == "mnist" and k[2] is False for k in data._CACHE)  # read from disk once
    a -= 0.5  # a reader's in-place edit ...
    b, _ = load_mnist(train=False)
    assert b is not a and float(b.min()) == 0.0  # ... does not reach the next caller


def test_missing_data_error_names_folder_variable_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_TEACH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()  # ./data exists: it is the root (else the per-user cache folder)
    with pytest.raises(DataNotFoundError) as err:
        load_mnist(train=True)
    msg = str(err.value)
    assert str(tmp_path / "data" / "MNIST" / "raw") in msg
    assert "VAE_TEACH_DATA" in msg and "train-images-idx3-ubyte" in msg and "train-labels-idx1-ubyte" in msg


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_TEACH_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    assert data.data_root("elsewhere") == type(tmp_path)("elsewhere")
    monkeypatch.delenv("VAE_TEACH_DATA")
    monkeypatch.chdir(tmp_path)
    assert "vae_teach" in str(data.data_root())   # no ./data here: the per-user cache folder
    (tmp_path / "data").mkdir()
    assert str(data.data_root()) == "data"


def test_corrupt_file_gives_clear_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") +
                                               (28).to_bytes(4, "big") * 2 + b"\x00" * 100)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"\x00" * 10)
    with pytest.raises(DataNotFoundError, match="truncated or corrupt"):
        load_mnist(train=False, root=tmp_path)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataNotFoundError, match="not a valid IDX"):
        load_mnist(train=False, root=tmp_path)


def test_batches_cover_every_image_once_and_shuffle_with_seed():
    x = torch.arange(1000).float().view(-1, 1, 1, 1)
    got = torch.cat(list(batches(x, 128, generator=torch.Generator().manual_seed(0)))).flatten()
    assert sorted(got.tolist()) == list(range(1000)) and got.tolist() != list(range(1000))
    again = torch.cat(list(batches(x, 128, generator=torch.Generator().manual_seed(0)))).flatten()
    assert torch.equal(got, again)
    assert [b.shape[0] for b in batches(x, 300, shuffle=False)] == [300, 300, 300, 100]
    assert [b.shape[0] for b in batches(x, 300, shuffle=False, drop_last=True)] == [300, 300, 300]
    xs, ys = next(iter(batches(x, 10, shuffle=False, labels=torch.arange(1000))))
    assert torch.equal(xs.flatten().long(), ys)


def test_static_binarization_is_fixed_and_dynamic_resamples():
    x = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a, b = binarize_static(x, seed=3), binarize_static(x, seed=3)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(binarize_dynamic(x, g), binarize_dynamic(x, g))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize_static(x * 255)
