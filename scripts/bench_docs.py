"""Shared by the benchmark scripts: print and write one section of docs/benchmarks.md."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the '## <heading>' section of `path` (or add it), leaving the rest alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def publish(section: str, heading: str, path: Path | None) -> None:
    """Print the section; with `path` (the script's --write), also write it there."""
    print()
    print(section)
    if path:
        write_section(path, heading, section)
        print(f"written to {path}")
