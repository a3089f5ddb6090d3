"""MLflow's tracking server with authentication, as `mlgate services` and compose start it.

The server runs MLflow's basic-auth app (`mlflow server --app-name basic-auth`): every call
but `/health` and static files needs a user and password, anonymous ones get 401, and a
user the admin creates starts with no permission at all (`default_permission`). The admin
is `admin`; the password is a generated secret (`mlgate.credentials`: the file
`$MLGATE_STATE/secrets/mlflow-admin-password`, or `$MLGATE_MLFLOW_PASSWORD` when set).

MLflow creates its admin only once, with the password it is given on the first start, and
ignores that password afterwards. So the server is started through this module
(`python -m mlgate.local.mlflow_server server ...`): it first makes the admin's password in
the auth database equal to the configured one, then becomes `mlflow server`. Rotating the
password = changing the secret (delete the file, or set the variable) and restarting.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from mlgate.credentials import ensure_secret, owner_only_dir, write_owner_only

MLFLOW_ADMIN_USER = "admin"
MLFLOW_PASSWORD_ENV = "MLGATE_MLFLOW_PASSWORD"
PASSWORD_SECRET = "mlflow-admin-password"
FLASK_KEY_SECRET = "mlflow-flask-secret-key"  # signs the basic-auth app's CSRF tokens
# A user the admin creates may do nothing until granted: the anonymous get nothing anyway.
DEFAULT_PERMISSION = "NO_PERMISSIONS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def mlflow_dir(state: Path) -> Path:
    return Path(state) / "mlflow"


def auth_config_path(state: Path) -> Path:
    return mlflow_dir(state) / "basic_auth.ini"


def auth_db_uri(state: Path) -> str:
    return f"sqlite:///{mlflow_dir(state) / 'basic_auth.db'}"


def admin_password(state: Path, environ=None) -> str:
    """The MLflow admin's password: `$MLGATE_MLFLOW_PASSWORD`, else the generated secret."""
    return ensure_secret(PASSWORD_SECRET, env_var=MLFLOW_PASSWORD_ENV, environ=environ, state=state)


def client_env(state: Path, environ=None) -> dict[str, str]:
    """What an MLflow client needs to log in to the server (MLflow reads these variables)."""
    return {
        "MLFLOW_TRACKING_USERNAME": MLFLOW_ADMIN_USER,
        "MLFLOW_TRACKING_PASSWORD": admin_password(state, environ),
    }


def is_local_server(tracking_uri: str, port: int) -> bool:
    """Whether `tracking_uri` is the local server on `port`: only there do we send our login."""
    parts = urlsplit(tracking_uri)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_NAMES and parts.port == port


def write_auth_config(path: Path, database_uri: str) -> Path:
    """basic_auth.ini: where the users live and what a new user may do. No password in it:
    the server gets that from its environment."""
    text = (
        "# Written by mlgate (mlgate.local.mlflow_server); the admin's password is not here.\n"
        "[mlflow]\n"
        f"default_permission = {DEFAULT_PERMISSION}\n"
        f"database_uri = {database_uri}\n"
        f"admin_username = {MLFLOW_ADMIN_USER}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    )
    return write_owner_only(path, text)


def server_env(state: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment of the MLflow server process of the state folder `state`."""
    owner_only_dir(mlflow_dir(state))
    config = write_auth_config(auth_config_path(state), auth_db_uri(state))
    return {
        **env,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": MLFLOW_ADMIN_USER,
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password(state, env),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": ensure_secret(FLASK_KEY_SECRET, state=state),
        # No background job runner (GenAI jobs, 7 more processes): mlgate does not use it.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def server_argv(state: Path, host: str, port: int) -> list[str]:
    """`mlflow server` with the basic-auth app on the state folder's tracking DB."""
    return [
        sys.executable,
        "-m",
        "mlgate.local.mlflow_server",
        "server",
        "--app-name",
        "basic-auth",
        "--backend-store-uri",
        f"sqlite:///{mlflow_dir(state) / 'mlflow.db'}",
        "--default-artifact-root",
        (mlflow_dir(state) / "artifacts").as_uri(),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def sync_admin_password() -> str:
    """Make the auth database's admin password the configured one; returns what was done.

    Reads the configuration the server will read (MLFLOW_AUTH_CONFIG_PATH and the
    MLFLOW_AUTH_ADMIN_* variables), so both agree on the database and the user.
    """
    from mlflow.server.auth.config import read_auth_config
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    config = read_auth_config()
    if not (config.admin_username and config.admin_password):
        raise SystemExit(
            "mlgate.local.mlflow_server: set MLFLOW_AUTH_ADMIN_USERNAME and "
            "MLFLOW_AUTH_ADMIN_PASSWORD (compose: MLFLOW_ADMIN_PASSWORD in .env)"
        )
    store = SqlAlchemyStore()
    store.init_db(config.database_uri)
    user, password = config.admin_username, config.admin_password
    if not store.has_user(user, use_primary=True):
        store.create_user(user, password, is_admin=True)
        return "created"
    if store.authenticate_user(user, password, use_primary=True):
        return "unchanged"
    store.update_user(user, password=password, is_admin=True)
    return "rotated"


def main(argv: list[str]) -> None:
    """Bring the admin's password up to date, then become `mlflow <argv>`.

    `--embedded [PORT]` (make mlflow-ui): the server of $MLGATE_STATE in the foreground.
    """
    if argv[:1] == ["--embedded"]:
        from mlgate.paths import state_dir

        port = int(argv[1]) if len(argv) > 1 else 5000
        owner_only_dir(state_dir())  # the tracking DB inside: its owner's only
        os.environ.update(server_env(state_dir(), dict(os.environ)))
        argv = server_argv(state_dir(), "127.0.0.1", port)[3:]  # without `python -m module`
        print(
            f"MLflow on http://127.0.0.1:{port}: user {MLFLOW_ADMIN_USER}, password in "
            f"{state_dir() / 'secrets' / PASSWORD_SECRET} (or ${MLFLOW_PASSWORD_ENV})",
            flush=True,
        )
    outcome = sync_admin_password()
    print(f"mlgate: MLflow admin password {outcome}", file=sys.stderr, flush=True)
    mlflow = str(Path(sys.executable).parent / "mlflow")
    os.execv(mlflow, [mlflow, *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
