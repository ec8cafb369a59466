"""Where a delivery goes: stored coordinates, or a geocoder answer cached in the store.

Three answers matter to the rules and must never be confused:
a position (known or geocoded), a definite "the geocoder has no such address"
(``address_not_found`` may cancel), and "we could not ask" (no geocoder, the
geocoder failed or timed out, this pass's geocoding budget is spent) which is
*unknown* and never leads to a cancellation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import sqlalchemy as sa

from daemon.domain import redaction
from daemon.domain.distance import Distances
from daemon.domain.location import Location, LocationStatus, implausible, valid_coordinates
from daemon.domain.orders import Order
from daemon.domain.timeutil import utcnow
from daemon.store import connect, rowcheck, schema

log = logging.getLogger(__name__)

# Geocoding happens inside a pass; a flood of new addresses must not stall it.
# The rest are looked up on the following passes.
MAX_GEOCODES_PER_PASS = 20


class Geocoder(Protocol):
    def geocode(self, query: str, **kwargs: Any) -> Any: ...


def normalize_address(text: str | None) -> str:
    return " ".join((text or "").split())


def build_geocoder(provider: str, options: Mapping[str, Any], timeout: float) -> Geocoder:
    """A geopy geocoder by service name (``nominatim``, ``photon``, ``googlev3`` ...)."""
    from geopy.geocoders import get_geocoder_for_service

    redaction.register_options(options)  # geopy logs its request URLs, api key included
    geocoder_class = get_geocoder_for_service(provider)
    geocoder: Geocoder = geocoder_class(**dict(options), timeout=timeout)
    return geocoder


class Locator:
    """Resolves delivery positions for one pass, with a cache in the store.

    Without an ``engine`` (a pass in memory, daemon.engine.simulated) nothing is
    cached and nothing is read or written: every lookup asks ``geocoder``.
    """

    def __init__(
        self,
        *,
        engine: sa.Engine | None,
        geocoder: Geocoder | None,
        provider: str = "",
        max_lookups: int = MAX_GEOCODES_PER_PASS,
        origins: Mapping[str, tuple[float, float]] | None = None,
        max_plausible_km: float | None = None,
    ) -> None:
        self._engine = engine
        self._geocoder = geocoder
        self._provider = provider
        self._max_lookups = max_lookups
        # restaurant_id -> where its deliveries start; positions implausibly far
        # from there are refused (see daemon.location.implausible).
        self._origins = dict(origins or {})
        self._max_plausible_km = max_plausible_km

    @property
    def geocoding_enabled(self) -> bool:
        return self._geocoder is not None

    def locate_all(
        self, orders: Iterable[Order], distances: Distances | None = None
    ) -> dict[str, Location]:
        """Positions for every delivery order, keyed by payment_key.

        ``distances`` is the pass's geodesic table, for the plausibility check.
        """
        located: dict[str, Location] = {}
        to_geocode: dict[str, list[str]] = {}
        deliveries = [order for order in orders if order.is_delivery]
        for order in deliveries:
            found = self._without_lookup(order)
            if isinstance(found, Location):
                located[order.payment_key] = found
            else:
                to_geocode.setdefault(found, []).append(order.payment_key)
        if to_geocode:
            answers = self._resolve(list(to_geocode))
            for query, keys in to_geocode.items():
                for key in keys:
                    located[key] = answers[query]
        for order in deliveries:
            # A refused position carries its problem; whoever evaluates the
            # order reports it (see PassRunner), as for bad rows.
            located[order.payment_key] = self._plausible(
                order, located[order.payment_key], distances
            )
        return located

    def _plausible(self, order: Order, location: Location, distances: Distances | None) -> Location:
        if self._max_plausible_km is None:
            return location
        origin = self._origins.get(order.restaurant_id)
        return implausible(location, origin, self._max_plausible_km, distances) or location

    def _without_lookup(self, order: Order) -> Location | str:
        """The order's position from its own row, or the address query to geocode."""
        if order.unreadable_position:
            return Location(LocationStatus.UNKNOWN, detail="the stored coordinates are unreadable")
        if order.coordinates is not None:
            if valid_coordinates(*order.coordinates):
                return Location(LocationStatus.KNOWN, order.coordinates)
            return Location(
                LocationStatus.UNKNOWN,
                detail=f"coordinates {order.coordinates} are not a real position",
            )
        query = normalize_address(order.address)
        if not query:
            return Location(LocationStatus.UNKNOWN, detail="no coordinates and no address text")
        if self._geocoder is None:
            return Location(
                LocationStatus.UNKNOWN, detail="no coordinates and no geocoder configured"
            )
        return query

    def _resolve(self, queries: list[str]) -> dict[str, Location]:
        answers = self._cached(queries)
        fresh: list[dict[str, Any]] = []
        lookups = 0
        for query in queries:
            if query in answers:
                continue
            if lookups >= self._max_lookups:
                answers[query] = Location(
                    LocationStatus.UNKNOWN, detail="geocoding budget of this pass used up"
                )
                continue
            lookups += 1
            location = self._geocode(query)
            answers[query] = location
            if location.status is not LocationStatus.UNKNOWN:
                coords = location.coordinates or (None, None)
                fresh.append(
                    {
                        "query": query,
                        "provider": self._provider,
                        "latitude": coords[0],
                        "longitude": coords[1],
                        "geocoded_at": utcnow(),
                    }
                )
        if fresh:
            self._remember(fresh)
        return answers

    def _cached(self, queries: list[str]) -> dict[str, Location]:
        """The answers the store's cache holds; none without a store (an in-memory pass)."""
        if self._engine is None:
            return {}
        cache = schema.geocode_cache
        with self._engine.connect() as connection:
            rows = connection.execute(
                sa.select(cache).where(
                    cache.c.query.in_(queries), cache.c.provider == self._provider
                )
            ).mappings()
            return {row["query"]: _cached_location(row) for row in rows}

    def _geocode(self, query: str) -> Location:
        from geopy.exc import GeopyError

        assert self._geocoder is not None
        try:
            result = self._geocoder.geocode(query, exactly_one=True)
        except GeopyError as exc:
            log.warning("geocoder %s failed for an address: %s", self._provider, exc)
            return Location(LocationStatus.UNKNOWN, detail=f"geocoder failed: {exc}")
        except Exception as exc:
            # geopy's parsers trust the answer's shape: "lat": "abc", an object
            # instead of a list or a list of strings fail with whatever Python
            # raises (ValueError, TypeError, AttributeError ...). Whatever it is,
            # it concerns this address only and must not stop the pass.
            return _unreadable(f"{type(exc).__name__}: {exc}")
        if result is None:
            return Location(LocationStatus.NOT_FOUND, detail="the geocoder has no result")
        return _position_from(result)

    def _remember(self, rows: list[dict[str, Any]]) -> None:
        if self._engine is None:
            return
        cache = schema.geocode_cache
        try:
            with connect.writer(self._engine) as connection, connection.begin():
                keys = [row["query"] for row in rows]
                connection.execute(sa.delete(cache).where(cache.c.query.in_(keys)))
                connection.execute(sa.insert(cache), rows)
        except sa.exc.SQLAlchemyError as exc:
            # Only a cache: the next pass asks the geocoder again.
            log.warning("could not cache geocoder answers: %s", exc)


def _unreadable(why: str) -> Location:
    detail = f"the geocoder's answer is unreadable ({why[:200]})"
    return Location(LocationStatus.UNKNOWN, detail=detail, problem=detail)


def _position_from(result: Any) -> Location:
    """The answer's position, checked: finite numbers, in range, not (0, 0)."""
    latitude = rowcheck.real(getattr(result, "latitude", None))
    longitude = rowcheck.real(getattr(result, "longitude", None))
    if latitude is None or longitude is None:
        return _unreadable("no finite latitude and longitude")
    if not valid_coordinates(latitude, longitude):
        return _unreadable(f"({latitude}, {longitude}) is not a real position")
    return Location(LocationStatus.GEOCODED, (latitude, longitude))


def _cached_location(row: sa.RowMapping) -> Location:
    if row["latitude"] is None or row["longitude"] is None:
        return Location(LocationStatus.NOT_FOUND, detail="the geocoder had no result (cached)")
    return Location(LocationStatus.GEOCODED, (row["latitude"], row["longitude"]))
