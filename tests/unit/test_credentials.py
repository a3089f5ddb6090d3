"""Generated secrets: created once, owner-only, an operator's choice wins, leaks refused."""

from __future__ import annotations

import os
import stat

import pytest

from mlgate import credentials


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    return tmp_path


def test_secret_is_generated_once_and_readable_by_its_owner_only(state):
    first = credentials.ensure_secret("token", environ={})
    again = credentials.ensure_secret("token", environ={})
    assert first == again and len(first) >= credentials.MIN_SECRET_CHARS
    path = state / "secrets" / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "secrets").stat().st_mode) == 0o700


def test_two_deployments_get_different_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "a"))
    a = credentials.ensure_secret("token", environ={})
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "b"))
    assert credentials.ensure_secret("token", environ={}) != a


def test_environment_variable_wins_and_must_be_long_enough(state):
    chosen = "x" * credentials.MIN_SECRET_CHARS
    assert credentials.ensure_secret("token", env_var="T", environ={"T": chosen}) == chosen
    assert not (state / "secrets" / "token").exists()
    with pytest.raises(credentials.SecretError, match="at least"):
        credentials.ensure_secret("token", env_var="T", environ={"T": "short"})


def test_a_secret_others_can_read_is_refused_as_leaked(state):
    credentials.ensure_secret("token", environ={})
    os.chmod(state / "secrets" / "token", 0o644)
    with pytest.raises(credentials.SecretError, match="readable by others"):
        credentials.ensure_secret("token", environ={})


def test_write_owner_only_replaces_the_file_whole(state):
    path = credentials.write_owner_only(state / "conf" / "x.ini", "a=1\n")
    credentials.write_owner_only(path, "a=2\n")
    assert path.read_text() == "a=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["x.ini"]
