"""A fresh student's machine, simulated: a new virtual environment that has the project's requirements
but not vae_teach, a wheel built here as the install source of the setup cell, and the data mirror
served from 127.0.0.1 (no internet). The first cells of a chapter and of an exercise notebook must
install the package, download and verify the data, and run; the `vae-teach` command must work."""
import gzip
import json
import os
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


def _requirements_without_vae_teach(dest: Path) -> Path:
    """This environment's site-packages as links, minus vae_teach's own entries (its editable install's
    metadata and import hook) and the .pth hooks: what `pip install -r requirements.txt` gives a student."""
    dest.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "vae_teach" in entry.name or entry.name.startswith("__editable__") or entry.suffix == ".pth":
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


def test_a_fresh_student_environment_installs_the_package_downloads_the_data_and_runs(tmp_path, project_wheel):
    t0 = time.perf_counter()
    # 1. A new venv (no pip of its own: `python -m pip` finds the linked one and installs into the venv).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    fresh_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    (fresh_site / "requirements.pth").write_text(f"{_requirements_without_vae_teach(tmp_path / 'requirements')}\n")
    # The kernel's environment: no PYTHONPATH to the checkout, no data, the network allowed (to 127.0.0.1).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VAE_TEACH_DATA", "VAE_TEACH_OFFLINE")}
    probe = subprocess.run([str(py), "-c", "import torch, ipykernel, pooch; import vae_teach"], capture_output=True,
                           text=True, cwd=tmp_path, env=env)
    assert "No module named 'vae_teach'" in probe.stderr, probe.stderr
    # 2. The data mirror: gzipped IDX files, as the real mirrors serve them; the student's data folder is empty.
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
    env.update(JUPYTER_PATH=str(tmp_path / "jupyter"), VAE_TEACH_INSTALL_SOURCE=str(project_wheel),
               VAE_TEACH_DATA=str(tmp_path / "student_data"),
               VAE_TEACH_MIRRORS=f"http://127.0.0.1:{server.server_address[1]}/",
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    outputs = {}
    try:
        for path, n in ((ROOT / "book" / "01_autoencoders.ipynb", 3), (ROOT / "exercises" / "01_autoencoders.ipynb", 2)):
            nb = _first_code_cells(path, n)
            NotebookClient(nb, kernel_name="fresh", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
            outputs[path.parent.name] = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                                                for o in c.outputs)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.shutdown()
    # The chapter's kernel installed the package, then downloaded and verified MNIST; the exercise's found both.
    assert "downloading MNIST into" in outputs["book"] and "train (8000, 1, 28, 28)" in outputs["book"], outputs
    assert "downloading" not in outputs["exercises"], outputs
    installed = subprocess.run([str(py), "-c", "import vae_teach; print(vae_teach.__file__)"], capture_output=True,
                               text=True, cwd=tmp_path, env=env).stdout
    assert Path(installed.strip()).is_relative_to(venv), installed
    assert sorted(p.name for p in (tmp_path / "student_data" / "MNIST" / "raw").iterdir()) == sorted(
        f.name for f in (SHARED / "MNIST" / "raw").glob("*-ubyte"))  # the four files, nothing partial
    cli = subprocess.run([str(venv / "bin" / "vae-teach"), "--help"], capture_output=True, text=True, cwd=tmp_path,
                         env=env)
    assert cli.returncode == 0 and "train" in cli.stdout, cli.stderr
    print(f"fresh-student simulation: {time.perf_counter() - t0:.0f} s (after the wheel build)")
