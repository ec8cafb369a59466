"""A Nominatim-compatible geocoder, so geocoding is testable without the internet.

Served at ``GET /search`` (Nominatim's) and ``GET /nominatim/v1/search``
(OpenMapQuest's, which takes an api key). It resolves the addresses it was
given, and has no result for those it was told do not exist. Any other
address has no result either by default (the tests); with
``unlisted_addresses="unknown"`` (``autocancel simulator``, for rehearsals) it
answers 503 instead, which the daemon reads as "unknown", so a real address
nobody listed is never cancelled as not found. An address may instead be
given a raw reply body, sent verbatim (a geocoder that answers garbage:
``"lat": "abc"``, an object instead of a list, ...).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Literal

from daemon.simulator.replies import Reply, json_reply

UnlistedAddresses = Literal["not_found", "unknown"]


class Geocoder:
    def __init__(
        self,
        *,
        addresses: Mapping[str, tuple[float, float]] | None = None,
        not_found: Iterable[str] = (),
        unlisted: UnlistedAddresses = "not_found",
    ) -> None:
        self._lock = threading.Lock()
        self._addresses = dict(addresses or {})
        self._replies: dict[str, str] = {}  # address -> raw body, sent verbatim
        self._not_found = set(not_found)  # definitely no such address
        # Any other address: "not_found" answers no result (the tests' default),
        # "unknown" an error, which the daemon never cancels on (rehearsals).
        self._unlisted = unlisted

    def add_address(self, address: str, latitude: float, longitude: float) -> None:
        with self._lock:
            self._addresses[address] = (latitude, longitude)

    def add_not_found(self, address: str) -> None:
        with self._lock:
            self._not_found.add(address)

    def add_reply(self, address: str, body: str) -> None:
        with self._lock:
            self._replies[address] = body

    def answer(self, query: str) -> Reply:
        """The reply to a search for ``query`` (whitespace is normalised first)."""
        address = " ".join(query.split())
        with self._lock:
            found = self._addresses.get(address)
            raw = self._replies.get(address)
            not_found = address in self._not_found
        if raw is not None:
            return Reply(200, raw.encode())
        if found is None and (not_found or self._unlisted == "not_found"):
            return json_reply(200, [])
        if found is None:
            # Not "no such address": the rehearsal simply was not told.
            # geopy reports the status line, so it says why: logs and explain show it.
            return replace(
                json_reply(
                    503,
                    {
                        "error": "unknown address: the simulator was not given it "
                        "(autocancel simulator --geocode-file)"
                    },
                ),
                reason="Unknown address (not in the simulator's --geocode-file)",
            )
        latitude, longitude = found
        return json_reply(
            200, [{"lat": str(latitude), "lon": str(longitude), "display_name": query}]
        )
