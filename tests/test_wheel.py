"""`pip install .` gives a package that works alone: the wheel carries every module, the zoo's weights and
manifest and the `vae-teach` command; the package imports and loads a zoo model from a folder outside the
checkout; and every third-party import of the package and of the notebooks is a declared runtime dependency."""
import ast
import functools
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
# Imported only where they exist, never at a module's top level: (module, why it is not a dependency).
OPTIONAL = {"IPython": "present wherever a notebook runs; vae_teach.checks falls back to print without it",
            "google": "google.colab: only on Colab, to switch on its widget manager"}


def test_the_wheel_carries_every_module_the_package_data_and_the_command(project_wheel):
    names = set(zipfile.ZipFile(project_wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vae_teach").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"
    data = set()
    for package, globs in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        folder = ROOT / package.replace(".", "/")
        data |= {p.relative_to(ROOT).as_posix() for g in globs for p in folder.glob(g)}
    assert "vae_teach/zoo/manifest.json" in data and any(n.endswith(".safetensors.xz") for n in data)
    assert data <= names, f"package data missing from the wheel: {sorted(data - names)}"
    assert all(n.startswith(("vae_teach/", "vae_teach-")) for n in names), "the wheel holds files outside the package"
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "vae-teach = vae_teach.__main__:main" in zipfile.ZipFile(project_wheel).read(entry).decode()


def test_the_unpacked_wheel_imports_and_loads_a_zoo_model_outside_the_checkout(project_wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(project_wheel).extractall(site)
    code = ("import vae_teach, vae_teach.zoo, vae_teach.widgets, vae_teach.checks; "
            "m = vae_teach.zoo.load('mnist_classifier'); print(vae_teach.__file__)")
    env = {**os.environ, "PYTHONPATH": str(site)}  # first on sys.path, ahead of the editable checkout
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout
    assert Path(out.strip()).is_relative_to(site), out


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level module, imported at the module's top level?) for every absolute import."""
    top = {id(n) for n in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in top))
    return found


@functools.lru_cache(maxsize=None)
def _distributions() -> dict:
    return importlib.metadata.packages_distributions()


def _undeclared(module: str) -> bool:
    if module in sys.stdlib_module_names or module in ("vae_teach", "__future__") or module in OPTIONAL:
        return False
    dists = _distributions().get(module, [module])
    return not any(canonicalize_name(d) in RUNTIME for d in dists)


def test_every_import_of_the_package_is_a_runtime_dependency():
    # vae_teach/tools/ is development tooling (benchmarks, notebook execution, the pytest plugin): it may read
    # the repository and import test tools inside the functions that need them.
    problems = []
    for path in sorted((ROOT / "vae_teach").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for module, at_top in _imports(ast.parse(path.read_text())):
            lazy_tool = rel.startswith("vae_teach/tools/") and not at_top  # e.g. nbclient, inside a function
            if _undeclared(module) and not lazy_tool:
                problems.append(f"{rel}: {module}")
            if module in OPTIONAL and at_top:
                problems.append(f"{rel}: {module} (optional, but imported at the top of the module)")
    assert not problems, f"imports not covered by pyproject's dependencies: {problems}"


def test_every_import_of_the_notebooks_is_a_runtime_dependency():
    # The setup cell installs only this package, so what the notebooks import must come with it.
    problems = []
    for path in sorted(p for folder in ("book", "solutions") for p in (ROOT / folder).glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = "\n".join(line for line in "".join(cell["source"]).splitlines()
                               if not line.lstrip().startswith(("%", "!")))  # IPython magics are not Python
            problems += [f"{path.parent.name}/{path.name} cell {i}: {m}" for m, _ in _imports(ast.parse(source))
                         if _undeclared(m)]
    assert not problems, f"notebook imports not covered by pyproject's dependencies: {problems}"


def test_the_runtime_dependencies_hold_no_book_or_test_tool():
    tools = {"jupyter-book", "pytest", "nbval", "nbclient", "nbformat", "playwright", "sphinx-proof", "ipykernel"}
    assert not RUNTIME & tools, f"book/test tools in the runtime dependencies: {sorted(RUNTIME & tools)}"
