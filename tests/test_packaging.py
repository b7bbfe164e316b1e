"""The `rea` namespace mapping in pyproject.toml covers every package folder (DESIGN.md §2)."""

from __future__ import annotations

import importlib
import tomllib


def test_every_package_folder_is_listed(repo_root):
    setup = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    mapping = setup["package-dir"]
    found = set()
    for name, folder in mapping.items():
        for init in (repo_root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(repo_root / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"add to pyproject packages: {sorted(found - listed)}"
    for name in listed:
        importlib.import_module(name)


def test_trainers_import_nothing_from_the_other_packages(repo_root):
    """A training job must run on a node with only the trainer's dependencies."""
    offenders = []
    for path in (repo_root / "trainers").rglob("*.py"):
        text = path.read_text()
        for other in ("memory", "tools", "agents", "graph", "app"):
            if f"rea.{other}" in text or f"from ..{other}" in text:
                offenders.append(f"{path.name} imports rea.{other}")
    assert not offenders


def test_torch_is_pinned(repo_root):
    deps = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps
    assert "torch==2.13.0" in (repo_root / "constraints.txt").read_text().splitlines()
