"""The Airflow REST API as the launchers and tests use it: JSON over urllib, JWT login."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from mlgate.local.processes import ServicesError

AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def http_json(url: str, *, token: str | None = None, method: str = "GET", body=None, timeout=10):
    """(status, parsed JSON or text) of one HTTP request; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


class AirflowClient:
    """The REST API as the UI uses it: a JWT from /auth/token, then Bearer requests."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            status, payload = http_json(
                f"{self.base_url}/auth/token",
                method="POST",
                body={"username": self.username, "password": self.password},
            )
            if status not in (200, 201):
                raise ServicesError(f"Airflow login failed ({status}): {payload}")
            self._token = payload["access_token"]
        return self._token

    def request(self, method: str, path: str, body=None):
        return http_json(
            f"{self.base_url}/api/v2/{path.lstrip('/')}",
            token=self.token(),
            method=method,
            body=body,
        )

    def get(self, path: str):
        return self.request("GET", path)


def airflow_health(base_url: str) -> dict | None:
    status, payload = http_json(f"{base_url}/api/v2/monitor/health", timeout=5)
    return payload if status == 200 and isinstance(payload, dict) else None


def all_healthy(payload: dict | None) -> bool:
    if not payload:
        return False
    return all(
        (payload.get(component) or {}).get("status") == "healthy"
        for component in AIRFLOW_COMPONENTS
    )
