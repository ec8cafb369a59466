"""What the platform's answer to a call means for our records."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the HTTP client is loaded only by live passes
    from daemon.dukkango.executor import Attempted


def refused(result: Attempted) -> bool:
    """The platform said no (400/403/404): final, never sent again."""
    from daemon.dukkango.errors import BadRequest, Forbidden, NotFound

    return isinstance(result.error, (BadRequest, Forbidden, NotFound))
