"""Settings of ``spineoutcome serve``, with the defaults a hospital IT team expects.

- bind to loopback (``127.0.0.1``) unless told otherwise;
- the API's bearer token is read from an environment variable (:data:`TOKEN_ENV` by default),
  never from the command line (argv is visible to every user of the machine) and never shown;
  a token shorter than :data:`MIN_TOKEN_LENGTH` characters is refused;
- CORS off (no cross-origin browser access) unless origins are named;
- ``allowed_hosts``: the Host headers answered (others get 400), which stops a web page in the
  surgeon's browser from reaching a loopback server through DNS rebinding; the command sets the
  loopback names when it binds to loopback (None: any host);
- bounded requests: at most ``max_patients`` patients and ``max_body_bytes`` bytes per request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from spineoutcome.errors import SpineoutcomeError

TOKEN_ENV = "SPINEOUTCOME_SERVE_TOKEN"
MIN_TOKEN_LENGTH = 16
LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class SettingsError(SpineoutcomeError, ValueError):
    """A setting of the server cannot be used (the message names it, never a token's value)."""


@dataclass(frozen=True)
class ServeSettings:
    """How the server is reached and protected (module docstring); ``token`` is never in ``repr``."""

    host: str = LOOPBACK
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    max_patients: int = 10_000
    max_body_bytes: int = 16 * 1024 * 1024
    tls: bool = False

    @classmethod
    def from_env(
        cls, *, token_env: str = TOKEN_ENV, environ: Mapping[str, str] | None = None, **kwargs: object
    ) -> ServeSettings:
        """Settings with the token read from ``token_env`` (unset: no token; set but empty or short: refused)."""
        environ = os.environ if environ is None else environ
        token = environ.get(token_env)
        if token is not None:
            token = token.strip()
            if len(token) < MIN_TOKEN_LENGTH:
                raise SettingsError(
                    f"the API token in {token_env} is empty or shorter than {MIN_TOKEN_LENGTH} "
                    "characters; set a long random token (e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))') or unset the variable"
                )
        return cls(token=token or None, **kwargs)  # type: ignore[arg-type]
