"""Data that fetch themselves: mirrors tried in order, sha256-checked, nothing partial left, one clear error.

The mirrors are an http.server on 127.0.0.1 serving small fake IDX files (no internet)."""
import gzip
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from test_bad_inputs import write_idx
from vae_teach import data, download
from vae_teach.data import DataNotFoundError, load_mnist

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/forbidden/"):
            self.send_error(403, "Forbidden")
            return
        super().do_GET()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture()
def mirrors(tmp_path, monkeypatch):
    """Folders good/ (the real gz files), bad/ (gz of other bytes) served on 127.0.0.1; fake hashes patched in."""
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(1)
    shapes = {"train-images-idx3-ubyte": (40, 28, 28), "train-labels-idx1-ubyte": (40,),
              "t10k-images-idx3-ubyte": (20, 28, 28), "t10k-labels-idx1-ubyte": (20,)}
    for f, shape in shapes.items():
        write_idx(raw / f, rng.integers(0, 10 if len(shape) == 1 else 256, shape))
        monkeypatch.setitem(download.SHA256, ("mnist", f), download._sha256(raw / f))
    site = tmp_path / "site"
    for folder, corrupt in (("good", False), ("bad", True)):
        (site / folder).mkdir(parents=True)
        for f in FILES:
            body = (raw / f).read_bytes()
            if corrupt:
                body = body[:-1] + bytes([body[-1] ^ 0xFF])
            (site / folder / f"{f}.gz").write_bytes(gzip.compress(body))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    monkeypatch.setattr(data, "_CACHE", {})
    yield base, tmp_path / "data"
    server.shutdown()


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name not in FILES)


def test_missing_files_are_downloaded_verified_and_loaded(mirrors, monkeypatch, capsys):
    base, root = mirrors
    monkeypatch.setenv(download.MIRRORS_ENV, f"{base}/good/")
    x, y = load_mnist(True, root)
    assert x.shape == (40, 1, 28, 28) and y.shape == (40,)
    assert "downloading MNIST into" in capsys.readouterr().out
    assert _leftovers(root) == []


def test_a_corrupt_mirror_is_skipped_for_the_next_and_leaves_nothing(mirrors, monkeypatch):
    base, root = mirrors
    monkeypatch.setenv(download.MIRRORS_ENV, f"{base}/bad/,{base}/good/")
    x, _ = load_mnist(False, root)
    assert x.shape == (20, 1, 28, 28) and _leftovers(root) == []


def test_when_every_mirror_fails_one_error_lists_each_url_and_its_answer(mirrors, monkeypatch):
    base, root = mirrors
    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv(download.MIRRORS_ENV, f"{base}/forbidden/,{base}/bad/,{closed}/")
    with pytest.raises(DataNotFoundError) as err:  # a DataDownloadError is a DataNotFoundError
        load_mnist(True, root)
    assert isinstance(err.value, download.DataDownloadError)
    msg = str(err.value)
    assert f"{base}/forbidden/train-images-idx3-ubyte.gz: HTTP 403" in msg
    assert f"{base}/bad/train-images-idx3-ubyte.gz: checksum mismatch" in msg
    assert f"{closed}/train-images-idx3-ubyte.gz: connection error: [Errno" in msg
    assert "To place the files by hand" in msg
    folder = root / "MNIST" / "raw"
    assert not folder.exists() or list(folder.iterdir()) == []  # no partial file left behind


def test_offline_mode_gives_the_clear_not_found_error_and_never_downloads(mirrors, monkeypatch):
    base, root = mirrors
    monkeypatch.setenv(download.MIRRORS_ENV, f"{base}/good/")
    monkeypatch.setenv(download.OFFLINE_ENV, "1")
    with pytest.raises(DataNotFoundError, match="VAE_TEACH_OFFLINE=1 forbids downloading"):
        load_mnist(True, root)
    assert not (root / "MNIST").exists()
