"""What the server does to every request: security headers, bounded bodies, an access log without patient data.

:class:`HospitalMiddleware` (plain ASGI, so it costs microseconds):

- adds :data:`SECURITY_HEADERS` to every response: a Content-Security-Policy that allows no script
  and no third-party resource, no framing, no MIME sniffing, no referrer, and ``no-store`` caching
  (pages and answers hold patient data); HSTS when the server itself speaks TLS;
- answers 413 to a body larger than the limit (counted as it arrives, also without Content-Length);
- answers 500 to an unhandled error and logs its type and place only (a message may quote a value);
- writes one access-log line per request: client address, method, the *route* (one of the app's
  own paths; anything else is logged as ``(other path)``, since a client could put data in a URL;
  never a query string), status and duration. Request bodies are never read for logging.

:func:`bearer_guard` enforces the API token, compared in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Collection
from typing import Annotated, Any

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ACCESS_LOGGER = "spineoutcome.serve.access"
ERROR_LOGGER = "spineoutcome.serve"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = ("strict-transport-security", "max-age=31536000")
OTHER_PATH = "(other path)"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class HospitalMiddleware:
    """Security headers, body limit and a patient-free access log (module docstring)."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], *, routes: Collection[str], max_body_bytes: int, tls: bool = False
    ) -> None:
        self.app = app
        self.routes = frozenset(routes)
        self.max_body_bytes = max_body_bytes
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if tls:
            self.headers.append((HSTS[0].encode(), HSTS[1].encode()))
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 500, "started": False, "received": 0, "refused": False}
        declared = dict(scope.get("headers") or ()).get(b"content-length")

        async def send_with_headers(message: Message) -> None:
            if state["refused"]:  # the app's answer after a refused body is dropped
                return
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                present = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [
                    *message.get("headers", ()),
                    *((k, v) for k, v in self.headers if k not in present),
                ]
            await send(message)

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_body_bytes and not state["started"]:
                    await self._too_large(send_with_headers)
                    state["refused"] = True
                    return {"type": "http.disconnect"}
            return message

        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                await self._too_large(send_with_headers)
            else:
                try:
                    await self.app(scope, counted_receive, send_with_headers)
                except Exception as exc:  # a bug: its message may quote a value, so log where, not what
                    if state["refused"]:  # the app stopped reading a body already answered with 413
                        return
                    frame = traceback.extract_tb(exc.__traceback__)[-1]
                    logging.getLogger(ERROR_LOGGER).error(
                        "unhandled %s at %s:%s", type(exc).__name__, frame.filename, frame.lineno
                    )
                    if state["started"]:
                        raise
                    await self._reply(send_with_headers, 500, "internal error (logged without patient data)")
        finally:
            path = scope.get("path", "")
            route = path if path in self.routes else OTHER_PATH
            client = (scope.get("client") or ("-", 0))[0]
            self.log.info(
                '%s "%s %s" %s %.1f ms',
                client,
                scope.get("method", "-"),
                route,
                state["status"],
                1000 * (time.perf_counter() - started),
            )

    async def _too_large(self, send: Send) -> None:
        await self._reply(send, 413, f"request body larger than {self.max_body_bytes} bytes")

    @staticmethod
    async def _reply(send: Send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


BEARER = HTTPBearer(
    auto_error=False,
    description="The token in the server's token environment variable (required only when one is configured).",
)


def bearer_guard(token: str | None) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency: with a token configured, ``Authorization: Bearer <token>`` is required (401 otherwise)."""
    expected = token.encode() if token else None

    async def guard(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
        if expected is None:
            return
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    return guard
