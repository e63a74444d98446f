"""The image must build from a clean checkout: no Docker daemon runs here, so check that
every file `pip install .` needs is copied into the image before that step."""

from __future__ import annotations

import re
import tomllib

from tests.support import REPO


def copied_before_install() -> set[str]:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    copied: set[str] = set()
    for line in lines:
        if line.startswith("RUN") and "pip install" in line:
            return copied
        match = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line)
        if match:
            copied.update(match.group(1).split())
    raise AssertionError("Dockerfile has no `pip install` step")


def test_dockerfile_copies_what_the_build_needs() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = pyproject["project"]
    needed = {"pyproject.toml", project["readme"], *project.get("license-files", [])}
    needed |= {name.rstrip("*") for name in
               pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    # wardops_data's files are links into the repository: their targets are needed too
    needed |= {link.resolve().relative_to(REPO).parts[0]
               for link in (REPO / "wardops_data").iterdir() if link.is_symlink()}
    missing = needed - copied_before_install()
    assert not missing, f"Dockerfile does not copy {sorted(missing)} before `pip install .`"
    for name in needed:
        assert (REPO / name).exists(), name
