"""What the scoring service checks before a request reaches an endpoint: who, what type, how big.

``RequestGuard`` is a plain ASGI middleware (no per-request objects beyond one closure, so
the one-row latency barely moves). In order:

1. **Bearer token** on everything but the read-only probes in ``OPEN_PATHS`` (deny by
   default, so an endpoint added later is protected too): a missing or wrong
   ``Authorization: Bearer <token>`` is a 401 with ``WWW-Authenticate: Bearer``, compared
   in constant time. The body of such a request is never read.
2. **JSON only**: a request that carries a body must say ``Content-Type: application/json``,
   else 415. A web page can send ``text/plain`` or a form cross-origin without asking;
   JSON needs a CORS preflight, which this service never grants.
3. **Body size**: a ``Content-Length`` above the limit is a 413 before a byte is read; a
   body without one (chunked) is counted while it is read and cut off with a 413 as soon
   as it passes the limit, so memory stays bounded whatever the client sends.

The token comes from ``serve_token``: ``--token-file``, else ``$MLGATE_SERVE_TOKEN``, else
the file ``$MLGATE_STATE/secrets/serve-token`` generated on the first start
(``mlgate.credentials``, mode 0600).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path

import orjson
from starlette.responses import Response

from mlgate.credentials import (
    MIN_SECRET_CHARS,
    SecretError,
    ensure_secret,
    read_secret_file,
    secret_path,
)

TOKEN_SECRET = "serve-token"
TOKEN_ENV = "MLGATE_SERVE_TOKEN"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # ~12,000 rows of the fraud demo's 18 fields
DEFAULT_MAX_ROWS = 10_000  # rows per POST /score (checked by the endpoint)
# Read-only probes a load balancer or Prometheus calls without credentials; they carry
# no row and no score of anyone (see docs/serving.md, "Authentication").
OPEN_PATHS = frozenset({"/health", "/metrics", "/docs", "/openapi.json"})
READ_METHODS = frozenset({"GET", "HEAD"})
JSON_TYPE = b"application/json"


class BodyTooLarge(Exception):
    """Raised by the guarded `receive` when the body read so far passes the limit."""


def json_response(payload, status: int = 200) -> Response:
    """An orjson answer (the service's one way of writing JSON)."""
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def serve_token(token_file: Path | None = None, environ=None) -> tuple[str, str]:
    """(the bearer token, where it is kept, for the operator: never the token itself).

    Raises ``SecretError`` (saying what to do) for an unreadable, shared or short file.
    """
    if token_file is not None:
        token = read_secret_file(token_file)
        if len(token) < MIN_SECRET_CHARS:
            raise SecretError(f"{token_file} holds fewer than {MIN_SECRET_CHARS} characters")
        return token, f"the file {token_file}"
    environ = os.environ if environ is None else environ
    if environ.get(TOKEN_ENV):
        return ensure_secret(TOKEN_SECRET, env_var=TOKEN_ENV, environ=environ), f"${TOKEN_ENV}"
    path = secret_path(TOKEN_SECRET)
    existed = path.exists()
    token = ensure_secret(TOKEN_SECRET, env_var=TOKEN_ENV, environ=environ)
    return token, f"the file {path}" + ("" if existed else " (generated now)")


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _bearer(authorization: bytes | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case)."""
    scheme, _, token = (authorization or b"").partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


def _media_type(content_type: bytes | None) -> bytes:
    return (content_type or b"").split(b";", 1)[0].strip().lower()


class RequestGuard:
    """ASGI middleware: token, content type and body size, before the app sees the request.

    ``rejected(path, status)`` is called for each refused request (the app counts them).
    """

    def __init__(
        self,
        app,
        *,
        token: str,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        rejected: Callable[[str, int], None] | None = None,
    ):
        if len(token) < MIN_SECRET_CHARS:
            raise SecretError(f"the bearer token must have at least {MIN_SECRET_CHARS} characters")
        self.app = app
        self.expected = token.encode()
        self.max_body_bytes = max_body_bytes
        self.rejected = rejected or (lambda path, status: None)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if not (scope["method"] in READ_METHODS and path in OPEN_PATHS):
            given = _bearer(_header(scope, b"authorization"))
            # compare_digest: the time taken does not tell how much of the token matched
            if given is None or not hmac.compare_digest(given, self.expected):
                return await self._refuse(
                    send, path, 401, self._unauthorized(given), wrong_token=given is not None
                )
        length = _header(scope, b"content-length")
        has_body = _header(scope, b"transfer-encoding") is not None or length not in (None, b"0")
        if has_body and _media_type(_header(scope, b"content-type")) != JSON_TYPE:
            return await self._refuse(
                send,
                path,
                415,
                {"error": "send the body as JSON with the header Content-Type: application/json"},
            )
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return await self._refuse(send, path, 413, self._too_large(f"of {int(length):,} bytes"))
        if not has_body:
            return await self.app(scope, receive, send)
        return await self._counted(scope, receive, send, path)

    async def _counted(self, scope, receive, send, path):
        read = 0
        started = False

        async def counted_receive():
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:  # cannot happen with our endpoints (they read before answering)
                raise
            await self._refuse(send, path, 413, self._too_large("over the limit"))

    def _unauthorized(self, given: bytes | None) -> dict:
        if given is None:
            return {
                "error": "missing bearer token: send the header Authorization: Bearer <token> "
                "(`mlgate serve` prints where the token is kept)"
            }
        return {"error": "wrong bearer token (see where `mlgate serve` says it is kept)"}

    def _too_large(self, size: str) -> dict:
        return {
            "error": f"request body {size}; at most {self.max_body_bytes:,} bytes "
            "(mlgate serve --max-body-bytes): send fewer rows per request",
            "max_body_bytes": self.max_body_bytes,
        }

    async def _refuse(
        self, send, path: str, status: int, payload: dict, wrong_token: bool = False
    ) -> None:
        self.rejected(path, status)
        # close: a refused body may still be arriving; it must not be parsed as a request
        headers = [(b"content-type", JSON_TYPE), (b"connection", b"close")]
        if status == 401:  # RFC 6750: the scheme, and "invalid_token" when one was sent
            challenge = b'Bearer realm="mlgate"' + (b', error="invalid_token"' * wrong_token)
            headers.append((b"www-authenticate", challenge))
        body = orjson.dumps(payload)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
