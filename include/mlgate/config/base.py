"""What every section of the pipeline config shares: strict models, names, durations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from mlgate.errors import PermanentError
from mlgate.window import duration_seconds

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError, PermanentError):
    """The config file is missing, unreadable or invalid; the message says what to fix."""


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain table or column name (letters, digits, underscore)"
        )
    return value


def _duration(value: str) -> str:
    duration_seconds(value)  # raises with the message the user sees
    return value


Name = Annotated[str, AfterValidator(_identifier)]
Duration = Annotated[str, AfterValidator(_duration)]


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are read-only once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
