"""The setup cell at the top of every notebook (book/, solutions/, exercises/), from one template.

In a running notebook where ``vae_teach`` is missing (Colab, Binder before its build, a fresh
Jupyter) it installs the package with ``%pip`` from the project's source (``vae_teach._project``;
the environment variable ``VAE_TEACH_INSTALL_SOURCE`` overrides it, e.g. with a local wheel), and on
Colab it turns on the custom widget manager the chapters' widgets need. Where ``vae_teach``
imports it does nothing and prints nothing. Tagged ``remove-cell``: the HTML book does not show it;
the notebooks that Colab, Binder and the download button give keep it. (``remove-cell`` rather
than ``hide-input``: a folded cell would still open every page with an install command that the
HTML reader cannot run and does not need.)

    python -m vae_teach.tools.setup_cell          # insert / refresh it in every notebook, and write
                                                  # _project's URL and revision into _config.yml

Development tooling: it reads and writes the repository's files (``ROOT``), not the installed package.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .._project import INSTALL_SPEC, REPOSITORY, REVISION

ROOT = Path(__file__).resolve().parents[2]
TAG = "remove-cell"
MARK = "# vae-teach setup"

SOURCE = f'''{MARK}: installs the book's package where it is missing (Colab, Binder, a fresh Jupyter); else nothing.
import importlib.util, os, sys
if importlib.util.find_spec("vae_teach") is None:
    _spec = os.environ.get("VAE_TEACH_INSTALL_SOURCE", "{INSTALL_SPEC}")
    %pip install -q "$_spec"
if "google.colab" in sys.modules:  # Colab shows ipywidgets only with its custom widget manager
    from google.colab import output
    output.enable_custom_widget_manager()'''


def notebooks() -> list[Path]:
    return sorted(p for folder in ("book", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))


def cell() -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "vae-teach-setup",
            "metadata": {"tags": [TAG]}, "outputs": [], "source": SOURCE.splitlines(keepends=True)}


def apply(path: Path) -> bool:
    """Insert or refresh the setup cell as the first cell of ``path``; True if the file changed."""
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    existing = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"
                     and "".join(c["source"]).startswith(MARK)), None)
    new = cell()
    if existing is not None:
        old = cells.pop(existing)
        new["execution_count"], new["outputs"] = old.get("execution_count"), old.get("outputs", [])
        # Keep what a run stored (timings); only the tag is the template's business.
        new["metadata"] = {**old.get("metadata", {}), "tags": sorted({*old.get("metadata", {}).get("tags", []), TAG})}
    # After the title cell (a markdown heading) if there is one, so the page still opens with its title.
    at = 1 if cells and cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).lstrip().startswith("#") else 0
    cells.insert(at, new)
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if text == path.read_text():
        return False
    path.write_text(text)
    return True


def sync_config(path: Path = ROOT / "_config.yml") -> bool:
    """Set ``repository: url / branch`` in ``_config.yml`` (the launch buttons) to ``_project``'s; True if changed."""
    lines = path.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "repository:"), None)
    if start is None:
        raise ValueError(f"{path} has no top-level 'repository:' block for the launch buttons")
    values = {"url": REPOSITORY, "branch": REVISION}
    for i in range(start + 1, len(lines)):
        m = re.match(r"^([ \t]+)(url|branch):[ \t]*\S*(.*)$", lines[i].rstrip("\n"))
        if not lines[i].startswith((" ", "\t")):
            break  # the block ended
        if m:
            lines[i] = f"{m.group(1)}{m.group(2)}: {values.pop(m.group(2))}{m.group(3)}\n"
    if values:
        raise ValueError(f"{path}: the 'repository:' block lacks {sorted(values)}")
    text = "".join(lines)
    if text == path.read_text():
        return False
    path.write_text(text)
    return True


if __name__ == "__main__":
    changed = [p for p in (map(Path, sys.argv[1:]) if len(sys.argv) > 1 else notebooks()) if apply(p)]
    print(f"setup cell refreshed in {len(changed)} notebook(s)")
    if len(sys.argv) == 1 and sync_config():
        print(f"_config.yml: repository set to {REPOSITORY} ({REVISION})")
