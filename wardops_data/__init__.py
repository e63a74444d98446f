"""The files wardops ships besides code, installed with the package: the default alerting
and recording rules, Grafana provisioning and dashboards, the example configs, the
Prometheus scrape config and the docs. ``wardops-exporter init DIR`` writes them out.

In a checkout these are symbolic links to the repository's own folders (one copy of
each file); a wheel holds the files themselves.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

#: what ``init`` writes, relative to this package
SHIPPED = ("rules", "grafana/provisioning", "grafana/dashboards", "examples",
           "prometheus.yml", "docs")


def write_out(target: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the shipped files into ``target``; return what was written. Existing files
    are kept unless ``overwrite`` (an operator's edited rules must not be lost)."""
    root = resources.files(__name__)
    written: list[Path] = []
    for name in SHIPPED:
        source = Path(str(root.joinpath(name)))
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*")
                                                          if p.is_file())
        for file in files:
            relative = Path(name) if source.is_file() else Path(name) / file.relative_to(source)
            if "__pycache__" in relative.parts or relative.suffix == ".pyc":
                continue
            destination = target / relative
            if destination.exists() and not overwrite:
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, destination)
            written.append(destination)
    return written
