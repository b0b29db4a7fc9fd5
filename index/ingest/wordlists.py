"""Word lists shipped as data files beside a package: one entry a line, "#" starting a comment."""

from __future__ import annotations

import importlib.resources


def data_lines(package: str, name: str) -> list[str]:
    """The entries of `package`'s data/`name`: each line stripped, blank lines and comments left out."""
    text = importlib.resources.files(package).joinpath("data", name).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]
