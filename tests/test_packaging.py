"""Packaging: every guideline folder ships as package data, so an installed guidec works
anywhere (and `pip install` prints no setuptools warnings about missing packages)."""

from __future__ import annotations

import tomllib

from conftest import ROOT


def test_every_guideline_folder_is_a_listed_package_with_its_files():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    data = config["package-data"]
    for folder in sorted({p.parent for p in (ROOT / "guidelines").rglob("*.gl")}):
        name = ".".join(["guidec", *folder.relative_to(ROOT).parts])
        assert name in listed, f"add {name} to [tool.setuptools] packages"
        assert "*.gl" in data.get(name, []), f"add {name} = [\"*.gl\"] to package-data"
    assert "*.lark" in data["guidec.grammar"]


def test_license_is_an_spdx_string_not_a_deprecated_table():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"


def test_every_compiler_subpackage_is_listed():
    """An installed guidec has every stage of the compiler (the SQL backend included)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    for init in sorted((ROOT / "compiler").rglob("__init__.py")):
        parts = init.parent.relative_to(ROOT / "compiler").parts
        name = ".".join(["guidec", "compiler", *parts])
        assert name in listed, f"add {name} to [tool.setuptools] packages"
