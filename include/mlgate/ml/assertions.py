"""The assertion set: curated examples the model must never get wrong (gate `assertion_set`).

The file (YAML) holds `defaults` (one ordinary row of model inputs) and `examples`, each
with an id, the expected label, a description and only the inputs that differ from the
defaults. Loading checks that every example is complete and names nothing unknown.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from mlgate.errors import PermanentError
from mlgate.paths import REPO_ROOT


class AssertionSetError(ValueError, PermanentError):
    """The assertion-set file is malformed; the message names the example and the key."""


def assertion_set_path(path: str) -> Path:
    resolved = Path(path)
    return resolved if resolved.is_absolute() else REPO_ROOT / resolved


def load_assertion_set(
    path: str | Path, numeric: list[str], categorical: list[str]
) -> pd.DataFrame:
    """One row per example: id, expected, description and every model-input column."""
    path = assertion_set_path(str(path))
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AssertionSetError(f"assertion set {path} does not exist") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("examples"), list):
        raise AssertionSetError(f"{path}: expected a mapping with an `examples` list")
    inputs = numeric + categorical
    defaults = spec.get("defaults") or {}
    unknown = sorted(set(defaults) - set(inputs))
    if unknown:
        raise AssertionSetError(f"{path}: defaults name unknown model inputs {unknown}")
    rows, seen = [], set()
    for position, example in enumerate(spec["examples"]):
        where = f"{path}: examples[{position}]"
        if not isinstance(example, dict) or "id" not in example:
            raise AssertionSetError(f"{where} needs an `id`")
        where = f"{path}: example {example['id']!r}"
        if example["id"] in seen:
            raise AssertionSetError(f"{where} is listed twice")
        seen.add(example["id"])
        if example.get("expected") not in (0, 1):
            raise AssertionSetError(f"{where}: `expected` must be 0 or 1")
        features = example.get("features") or {}
        unknown = sorted(set(features) - set(inputs))
        if unknown:
            raise AssertionSetError(f"{where} names unknown model inputs {unknown}")
        values = {**defaults, **features}
        missing = [c for c in inputs if c not in values]
        if missing:
            raise AssertionSetError(f"{where} lacks {missing} (and `defaults` has no value)")
        rows.append(
            {
                "id": str(example["id"]),
                "expected": int(example["expected"]),
                "description": str(example.get("description", "")),
                **{c: float(values[c]) for c in numeric},
                **{c: str(values[c]) for c in categorical},
            }
        )
    if not rows:
        raise AssertionSetError(f"{path}: the assertion set is empty")
    return pd.DataFrame(rows)
