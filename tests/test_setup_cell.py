"""One setup cell, from one template, at the top of every notebook; one project URL everywhere."""
import json
import re
from pathlib import Path

import pytest

from vae_teach import _project
from vae_teach.tools import setup_cell

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = setup_cell.notebooks()


def test_there_are_notebooks_in_all_three_folders():
    assert {p.parent.name for p in NOTEBOOKS} == {"book", "solutions", "exercises"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_first_code_cell_is_the_template_tagged_for_removal_from_the_html(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, path
    first = code[0]
    assert "".join(first["source"]) == setup_cell.SOURCE, (
        f"{path}: its first code cell is not the setup-cell template; run python -m vae_teach.tools.setup_cell")
    assert setup_cell.TAG in first["metadata"].get("tags", [])
    assert sum("".join(c["source"]).startswith(setup_cell.MARK) for c in code) == 1


def test_the_install_line_quotes_the_requirement_and_reads_the_override():
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(setup_cell.SOURCE)
    assert "run_line_magic('pip', 'install -q \"$_spec\"')" in python  # quoted: `>=` or `@` cannot reach a shell
    assert 'os.environ.get("VAE_TEACH_INSTALL_SOURCE", "' + _project.INSTALL_SPEC + '")' in setup_cell.SOURCE


def test_the_cell_does_nothing_where_the_package_imports(monkeypatch):
    from IPython.core.inputtransformer2 import TransformerManager

    calls = []

    class FakeShell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    python = TransformerManager().transform_cell(setup_cell.SOURCE)
    exec(python, {"get_ipython": lambda: FakeShell()})
    assert calls == []
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    exec(python, {"get_ipython": lambda: FakeShell()})
    assert calls == [("pip", 'install -q "$_spec"')]


def test_config_readme_and_package_name_one_project_url():
    config = (ROOT / "_config.yml").read_text()
    assert re.search(rf"^\s+url: {re.escape(_project.REPOSITORY)}\s*$", config, re.M)
    assert re.search(rf"^\s+branch: {re.escape(_project.REVISION)}\s*$", config, re.M)
    assert _project.REPOSITORY in (ROOT / "README.md").read_text()
