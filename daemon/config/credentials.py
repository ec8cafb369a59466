"""Where the Dükkango secrets come from: the environment or systemd credentials.

Cheap to import (no HTTP client): commands check credentials before deciding
anything, and a dry run never needs more than this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Names of environment variables, not secrets.
ENV_ACCESS_TOKEN = "DUKKANGO_ACCESS_TOKEN"  # noqa: S105
ENV_APP_SECRET_KEY = "DUKKANGO_APP_SECRET_KEY"  # noqa: S105
ENV_REST_SECRET_KEY = "DUKKANGO_REST_SECRET_KEY"  # noqa: S105


class MissingCredentials(Exception):
    """A live pass is due and no Dükkango credentials are in the environment."""


CREDENTIAL_NAMES = (ENV_ACCESS_TOKEN, ENV_APP_SECRET_KEY, ENV_REST_SECRET_KEY)


def process_environ() -> dict[str, str]:
    """The environment, plus systemd credentials for any secret it lacks.

    With ``LoadCredential=DUKKANGO_APP_SECRET_KEY:/etc/autocancel/app.key`` in
    the unit, systemd puts the file in $CREDENTIALS_DIRECTORY, readable only by
    this service; the secret then never appears in the process environment.
    """
    merged = dict(os.environ)
    folder = merged.get("CREDENTIALS_DIRECTORY")
    if folder:
        for name in CREDENTIAL_NAMES:
            path = Path(folder) / name
            if not merged.get(name) and path.is_file():
                merged[name] = path.read_text(encoding="utf-8").strip()
    return merged


def credentials_present(environ: Mapping[str, str] | None = None) -> bool:
    env = process_environ() if environ is None else environ
    return bool(env.get(ENV_ACCESS_TOKEN)) or bool(
        env.get(ENV_APP_SECRET_KEY) and env.get(ENV_REST_SECRET_KEY)
    )


def require_credentials(environ: Mapping[str, str] | None = None) -> None:
    """Fail before deciding anything: an intent recorded without credentials would be lost."""
    if not credentials_present(environ):
        raise MissingCredentials(
            f"live mode needs Dükkango credentials: set {ENV_ACCESS_TOKEN}, or both "
            f"{ENV_APP_SECRET_KEY} and {ENV_REST_SECRET_KEY} (or use --dry-run)"
        )
