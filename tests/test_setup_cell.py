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


def test_config_launch_buttons_use_the_one_project_url():
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert (repo["url"], repo["branch"]) == (_project.REPOSITORY, _project.REVISION), (
        "_config.yml's repository differs from vae_teach/_project.py; run python -m vae_teach.tools.setup_cell")


def test_every_project_link_in_the_readme_uses_the_one_url_and_revision():
    readme = (ROOT / "README.md").read_text()
    slug = _project.REPOSITORY.removeprefix("https://github.com/")
    slugs = re.findall(r"(?:github\.com/|/gh/|colab\.research\.google\.com/github/)([\w.-]+/[\w.-]+)", readme)
    revisions = (re.findall(r"git\+\S+?@([\w.-]+)", readme) + re.findall(r"/gh/[\w.-]+/[\w.-]+/([\w.-]+)", readme)
                 + re.findall(r"/github/[\w.-]+/[\w.-]+/blob/([\w.-]+)/", readme))
    assert slugs and revisions, "the README should show the three ways in, with their links"
    assert set(slugs) == {slug}, f"README links to {sorted(set(slugs))}, _project.py says {slug}"
    assert set(revisions) == {_project.REVISION}, f"README uses revisions {sorted(set(revisions))}"
    assert f'"{_project.INSTALL_SPEC}' in readme  # the laptop's pip line installs what the setup cell installs


def test_the_tool_writes_the_url_into_config_and_refuses_a_config_without_the_block(tmp_path):
    config = tmp_path / "_config.yml"
    text = (ROOT / "_config.yml").read_text()
    config.write_text(text.replace(f"url: {_project.REPOSITORY}", "url: https://example.org/someone/else")
                      .replace(f"branch: {_project.REVISION}", "branch: old  # a comment stays"))
    assert setup_cell.sync_config(config) is True
    assert config.read_text() == text.replace(f"branch: {_project.REVISION}",
                                              f"branch: {_project.REVISION}  # a comment stays")
    assert setup_cell.sync_config(config) is False  # idempotent
    config.write_text("title: x\n")
    with pytest.raises(ValueError, match="repository"):
        setup_cell.sync_config(config)
