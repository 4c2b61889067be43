"""Credentials: one masking function for every URL the package prints, logs or stores; secrets from the environment.

:func:`mask_url` renders a URL with SQLAlchemy's own URL parser and renderer
(``make_url(url).render_as_string(hide_password=True)``), which reads a password with ``/``,
spaces or an empty user name the way the database driver will, and additionally masks secrets in
the query string (``?password=...``, ``&sslpassword=...``, tokens and keys). :func:`mask_secrets`
does the same for every URL inside a longer text (an exception message, a JSON document).

Passwords never need to be on a command line, where every user of the machine can read them in
the process list: every command that takes a database or tracking URL also reads it from an
environment variable (``SPINEOUTCOME_OPTUNA_STORAGE``, ``MLFLOW_TRACKING_URI``), and PostgreSQL
drivers read the password from ``PGPASSWORD`` or a ``~/.pgpass`` file (``PGPASSFILE``, mode
0600), so the URL itself may carry none.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
STORAGE_ENV = "SPINEOUTCOME_OPTUNA_STORAGE"
"""Environment variable read by ``train``, ``worker`` and ``optuna-init`` for the Optuna storage URL."""
SECRET_QUERY_KEYS = (
    "password",
    "passwd",
    "pwd",
    "sslpassword",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "access_key",
    "secret_key",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
)
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*://"
# scheme://user:password@ where the password runs to the last '@' before the host (it may hold '/', spaces)
_USERINFO = re.compile(_SCHEME + r"(?P<user>[^:/@\s]*):(?P<password>[^@\n]*)@(?=[^@\s]*(?:[\s\"',;)\]}]|$))")
_QUERY = re.compile(
    r"(?P<key>[?&;](?:" + "|".join(re.escape(k) for k in SECRET_QUERY_KEYS) + r")=)(?P<value>[^&#\s\"',;]*)",
    re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """``url`` with its password (user info and query string) replaced by ``***``; other parts unchanged.

    SQLAlchemy parses it when it can (any ``dialect+driver://`` URL), so the mask falls exactly on
    what the driver would use as the password; other URLs (``http://``, ``s3://``) are masked by
    the same rules as :func:`mask_secrets`.
    """
    text = str(url)
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError, TypeError):
        return mask_secrets(text)
    if parsed.password is None and not _QUERY.search(text):
        return text
    query = {k: (MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", MASK)


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it (user info and query string) replaced by ``***``."""
    masked = _USERINFO.sub(lambda m: m.group(0)[: m.start("password") - m.start(0)] + MASK + "@", str(text))
    return _QUERY.sub(lambda m: m.group("key") + MASK, masked)
