"""Generated secrets: made on first use, kept under the state folder, readable by the owner only.

One owner for where secrets live and how they are created, so every service (the scoring
service's bearer token, MLflow's admin password, Spark's shared secret) follows the same
rules: an environment variable wins when set; otherwise the secret is read from its file
under `$MLGATE_STATE/secrets/`, which is generated on the first start (mode 0600, in a 0700
folder) and never leaves the machine. Rotating a secret = deleting its file (or setting the
variable) and restarting the service that uses it.
"""

from __future__ import annotations

import os
import secrets as _random
import stat
from pathlib import Path

from mlgate.paths import state_dir

SECRET_BYTES = 32  # 256 bits of randomness, url-safe text of 43 characters
MIN_SECRET_CHARS = 16  # a secret chosen by the operator must be at least this long


class SecretError(RuntimeError):
    """A secret could not be read or is unsafe; the message says what to do."""


def secrets_dir(state: Path | None = None) -> Path:
    """`<state>/secrets` (default `$MLGATE_STATE/secrets`), created readable by its owner only."""
    return owner_only_dir(Path(state or state_dir()) / "secrets")


def owner_only_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it 0700: only its owner can list or enter it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_owner_only(path: Path, text: str) -> Path:
    """Write `text` to `path` whole (temporary file, then rename) with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def ensure_secret(
    name: str, *, env_var: str | None = None, environ=None, state: Path | None = None
) -> str:
    """The secret `name`: from `env_var` when set, else from its file, generated when absent.

    The file is `secrets_dir(state)/name` (`state`: a state folder other than $MLGATE_STATE,
    as `mlgate services start` may be given one). A file others can read is refused (not silently
    fixed): someone may already have copied it, so it must be rotated.
    """
    environ = os.environ if environ is None else environ
    if env_var and environ.get(env_var):
        chosen = environ[env_var].strip()
        if len(chosen) < MIN_SECRET_CHARS:
            raise SecretError(f"{env_var} must have at least {MIN_SECRET_CHARS} characters")
        return chosen
    path = secret_path(name, state)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret_file(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(_random.token_urlsafe(SECRET_BYTES) + "\n")
    return read_secret_file(path)


def secret_path(name: str, state: Path | None = None) -> Path:
    """Where the generated secret `name` is kept."""
    return secrets_dir(state) / name


def read_secret_file(path: Path) -> str:
    """The secret in `path`; refuses a file that anyone but its owner can read or write."""
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as err:
        raise SecretError(f"cannot read the secret {path}: {err.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"{path} is readable by others (mode {stat.filemode(mode)}); treat it as leaked: "
            f"delete it so a new one is generated (or chmod 600 it if you are sure), then "
            "restart the services that use it"
        )
    if not text:
        raise SecretError(f"{path} is empty; delete it so a new secret is generated")
    return text
