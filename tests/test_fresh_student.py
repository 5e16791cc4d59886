"""A fresh student's machine, simulated: a new virtual environment that has the project's requirements
but not vae_teach, a wheel built here as the install source of the setup cell, and the data mirrors
served from 127.0.0.1. The first cells of a chapter and of an exercise notebook must install the
package, download and verify the data, and run."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAE_TEACH_DATA", ROOT.parent / "shared" / "data"))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _first_code_cells(path: Path, n: int) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    keep, seen = [], 0
    for c in nb.cells:
        if c.cell_type == "code":
            if seen == n:
                break
            seen += 1
        keep.append(c)
    nb.cells = keep
    return nb


def test_a_fresh_student_environment_installs_the_package_downloads_the_data_and_runs(tmp_path):
    t0 = time.perf_counter()
    # 1. The wheel the setup cell will install (built from a copy: no build/ left in the checkout).
    src = tmp_path / "src"
    shutil.copytree(ROOT / "vae_teach", src / "vae_teach", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("vae_teach-*.whl"))
    # 2. A new venv whose only extra path is this environment's site-packages as a plain directory:
    #    torch & co. import, but the editable vae_teach (a .pth hook there) is not processed.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    fresh_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    (fresh_site / "project_requirements.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run([str(py), "-c", "import torch, ipykernel; import vae_teach"], capture_output=True,
                           text=True, cwd=tmp_path)
    assert "No module named 'vae_teach'" in probe.stderr, probe.stderr
    # 3. The data mirror: gzipped IDX files on 127.0.0.1; the student's data folder is empty.
    site = tmp_path / "mirror"
    site.mkdir()
    for f in sorted((SHARED / "MNIST" / "raw").glob("*-ubyte")):
        (site / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes(), compresslevel=1))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kernels = tmp_path / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh student", "language": "python"}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VAE_TEACH_DATA", "VAE_TEACH_OFFLINE")}
    env.update(JUPYTER_PATH=str(tmp_path / "jupyter"), VAE_TEACH_INSTALL_SOURCE=str(wheel),
               VAE_TEACH_DATA=str(tmp_path / "student_data"), VAE_TEACH_MIRRORS=f"http://127.0.0.1:{server.server_address[1]}/",
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        # pip inside the venv: the .pth gives it the shared pip, run as `python -m pip` by %pip.
        for path, n in ((ROOT / "book" / "01_autoencoders.ipynb", 3), (ROOT / "exercises" / "01_autoencoders.ipynb", 2)):
            nb = _first_code_cells(path, n)
            NotebookClient(nb, kernel_name="fresh", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
            if path.parent.name == "book":
                out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
                assert "downloading MNIST into" in out and "train (8000, 1, 28, 28)" in out, out
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.shutdown()
    installed = subprocess.run([str(py), "-c", "import vae_teach; print(vae_teach.__file__)"], capture_output=True,
                               text=True, cwd=tmp_path, env=env).stdout
    assert str(venv) in installed, installed
    assert sorted(p.name for p in (tmp_path / "student_data" / "MNIST" / "raw").iterdir()) == sorted(
        f.name for f in (SHARED / "MNIST" / "raw").glob("*-ubyte"))
    print(f"fresh-student simulation: {time.perf_counter() - t0:.0f} s")
