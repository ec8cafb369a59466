"""The systemd notification protocol (sd_notify), without a dependency.

A datagram to the socket named by NOTIFY_SOCKET; a no-op when not run by
systemd. ``WATCHDOG_USEC`` tells how often systemd expects a heartbeat.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``, ``STATUS=...``.

    Returns False when not run by systemd (or the message could not be sent).
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract socket namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd (%s): %s", message.split("=", maxsplit=1)[0], exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between heartbeats (half of systemd's WatchdogSec), or None if not watched."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None
