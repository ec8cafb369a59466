"""Filling the template and writing the file: all or nothing.

The template is autoescaped (every value from the store is text, whatever
it holds); the only markup inserted as is comes from pygal (SVG it escaped)
and the page's own script, which the Content-Security-Policy names by its
hash, so no other script, inline handler or network load can run, even one
that slipped past the escaping.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from daemon.domain.timeutil import isoformat_z

_TEMPLATES = resources.files("daemon.cli.auditreport") / "templates"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("daemon.cli.auditreport", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["iso"] = isoformat_z
    return environment


def _script() -> tuple[Markup, str]:
    """The page's filter script and its CSP source (``'sha256-…'``)."""
    text = (_TEMPLATES / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"'sha256-{digest}'"  # noqa: S704 - our own file, not data


def render(**context: Any) -> str:
    script, script_source = _script()
    template = _environment().get_template("report.html.j2")
    return template.render(script=script, script_source=script_source, **context)


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file beside it and a rename.

    Raises OSError; nothing is left behind then, and an older ``target`` stays
    as it was. The file is readable by its owner only (mkstemp's 0600): it
    holds customers' names and addresses.
    """
    folder = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
