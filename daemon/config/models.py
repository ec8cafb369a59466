"""rules.yaml as validated, immutable settings: the pydantic models behind :class:`Config`.

The models are frozen, reject unknown keys and do not coerce types, so a typo
or a quoted number is reported instead of guessed at. Reading the file, the
environment overrides and the error report are :mod:`daemon.config.load`'s.
"""

from __future__ import annotations

import difflib
import inspect
import re
from datetime import tzinfo
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.config.error_messages import describe_value
from daemon.config.notifications import NotificationSettings
from daemon.domain.pauses import DEFAULT_MAX_PAUSE_HOURS
from daemon.domain.windows import DEFAULT_TIMEZONE, QuietWindow, Window, time_zone
from rules import Rule
from rules.windows import Dates, Days, Hours

DEFAULT_STORE_URL: Final = "sqlite:///orders.db"
DEFAULT_BASE_URL: Final = "https://www.xn--dkkango-n2a.com/api/integrations"


class Section(BaseModel):
    """A top-level section of rules.yaml: frozen, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def check_store_url(url: str) -> str:
    if not re.match(r"^[A-Za-z][\w+.-]*://", url):
        raise ValueError(
            f"must be an SQLAlchemy URL such as sqlite:///orders.db or "
            f"postgresql+psycopg://user@host/dbname (got {url!r})"
        )
    return url


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http:// or https:// URL (got {url!r})")
    return url.rstrip("/")


class StoreSettings(Section):
    # Any SQLAlchemy URL. A relative SQLite path is relative to the rules file.
    url: str = DEFAULT_STORE_URL

    @field_validator("url")
    @classmethod
    def _url_is_url(cls, url: str) -> str:
        return check_store_url(url)


class ApiSettings(Section):
    base_url: str = DEFAULT_BASE_URL  # stored without a trailing slash
    timeout_seconds: float = Field(default=10, gt=0)
    # Retries for 5xx, timeouts and connection errors (400/403/404 are final).
    max_attempts: int = Field(default=4, ge=1, le=10)
    # First backoff; it doubles each retry (1, 2, 4 s ...). 429 always waits >= 30 s.
    backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    # Cancellations sent at once.
    concurrency: int = Field(default=4, ge=1, le=32)
    # A call whose answer is lost (timeout, dropped connection, unreadable 200)
    # may have cancelled: it counts as sent, and is resent at most this many
    # times on later passes (each after a re-check), then failed for good.
    lost_answer_retries: int = Field(default=3, ge=0, le=10)
    # No new API call starts after a pass has run this long; the rest waits
    # for the next pass (a hanging API cannot hold the daemon).
    pass_deadline_seconds: float = Field(default=90, gt=0, le=3600)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, url: str) -> str:
        return check_base_url(url)


class ScheduleSettings(Section):
    interval_seconds: float = Field(default=15, gt=0)
    # Between full passes, a pass re-judges only the restaurants the change log
    # says changed (daemon.engine.active); a full pass re-reads everything, so
    # what only time changes and no faster path covers (an order's age, a
    # geocoder that was down) waits at most this long. 0: every pass is full.
    full_pass_seconds: float = Field(default=300, ge=0)
    # How often a live daemon reads Dükkango's status of each restaurant it
    # holds closed (GET restaurants/status/get), to notice staff opening it by
    # hand; the API docs' example polls every 5 minutes. Per restaurant, shared
    # by replicas; only while a closure of ours is in force.
    status_check_seconds: float = Field(default=300, ge=1, le=3600)


class Restaurant(Section):
    id: str = Field(min_length=1, description="the Dükkango restaurant (branch) UUID")
    name: str | None = None
    # Both or neither: distance rules measure from here.
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _coordinates_in_pairs(self) -> Restaurant:
        if (self.latitude is None) != (self.longitude is None):
            given = "latitude" if self.longitude is None else "longitude"
            raise ValueError(f"give both latitude and longitude, or neither (only {given} is set)")
        return self

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def display_name(self) -> str:
        return self.name or self.id


@cache
def _geopy_services() -> dict[str, Any]:
    from geopy.geocoders import SERVICE_TO_GEOCODER

    return dict(SERVICE_TO_GEOCODER)


# Constructor arguments that are not plain values, or that we set ourselves.
_NOT_OPTIONS: Final = frozenset({"self", "timeout", "proxies", "ssl_context", "adapter_factory"})


class GeocoderSettings(Section):
    provider: str = Field(min_length=1, description="a geopy service name such as nominatim")
    # Passed to the geopy geocoder's constructor: user_agent, domain, scheme, api_key, ...
    options: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=5, gt=0)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str) -> str:
        services = sorted(_geopy_services())
        if provider not in services:
            close = difflib.get_close_matches(provider, services, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"unknown geopy service '{provider}'{hint} (valid: {', '.join(services)})"
            )
        return provider

    @field_validator("options")
    @classmethod
    def _options_fit_provider(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for key, value in options.items():
            if not isinstance(value, str | int | float | bool):
                raise ValueError(
                    f"option '{key}' must be text, a number or true/false "
                    f"(got {describe_value(value)})"
                )
        if "timeout" in options:
            raise ValueError("set geocoder.timeout_seconds instead of options.timeout")
        provider = info.data.get("provider")
        if provider is None:
            return options
        signature = inspect.signature(_geopy_services()[provider].__init__)
        accepted = sorted(set(signature.parameters) - _NOT_OPTIONS)
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(
                f"{provider} does not take {', '.join(map(repr, unknown))}; "
                f"valid options: {', '.join(accepted)}"
            )
        return options


class SafetySettings(Section):
    # Across all rules, a rolling 60-minute window; 0 holds every cancellation.
    max_cancellations_per_hour: int = Field(default=30, ge=0)
    max_order_age_minutes: int = Field(default=180, gt=0)
    # payment_keys or customer phone numbers, as text.
    never_cancel: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...], Field(strict=False)
    ] = ()
    # At most this share of the orders the daemon may act on cancelled in one pass,
    # per restaurant and per pass (daemon/safety.py); None = no cap.
    max_cancel_ratio: float | None = Field(default=None, gt=0, le=1)
    # A delivery position farther than this from its restaurant (swapped
    # latitude and longitude, a same-named street in another city) is bad
    # data: unknown, never a distance match. Kilometres.
    max_plausible_km: float = Field(default=100.0, gt=0)
    # The longest pause `autocancel pause` accepts: every pause ends, and a
    # forgotten one should not keep the daemon off for long. Hours, at most a week.
    max_pause_hours: float = Field(default=DEFAULT_MAX_PAUSE_HOURS, gt=0, le=168)


SyncOwnership = Literal["synced", "all"]


class SyncSettings(Section):
    # Pull orders/get-current into the store inside `autocancel run`. Off by
    # default: most restaurants have a POS that writes the store itself.
    enabled: bool = False
    # The API allows one get-current call per 30 seconds.
    interval_seconds: float = Field(default=35, ge=30)
    # Acknowledge pulled orders (orders/success). Off by default: the POS may
    # own acknowledgement, and an order acknowledged twice is harmless but one
    # acknowledged by us is gone from the POS's own poll.
    acknowledge: bool = False
    # Which orders sync may update from Dükkango: "synced", only those it
    # created (in a POS's order it only fills empty columns and reports
    # disagreements), or "all", for a store no POS writes.
    owns: SyncOwnership = "synced"


class MetricsSettings(Section):
    # Serve Prometheus metrics from `autocancel run` on this port; None = off.
    port: int | None = Field(default=None, ge=1, le=65535)
    # Loopback by default: metrics are for the local scraper.
    address: str = "127.0.0.1"


class HistorySettings(Section):
    # The order history replay reads (daemon.store.history): changes older than
    # this many days are pruned; an order still active keeps the row it is
    # known by, however old.
    retention_days: int = Field(default=30, ge=1, le=3650)


def check_timezone(name: str) -> str:
    time_zone(name)  # ValueError: unknown, with a suggestion
    return name


class QuietWindowSettings(Section):
    """One entry of ``quiet_windows``: when no automatic cancellation goes out.

    The hours, days and dates say when (each optional, at least one given);
    conventions as a rule's active_hours/active_days (daemon.domain.windows).
    """

    name: str | None = Field(default=None, min_length=1)
    hours: Hours | None = None
    days: Days | None = None
    dates: Dates | None = None

    @model_validator(mode="after")
    def _says_when(self) -> QuietWindowSettings:
        if self.hours is None and self.days is None and self.dates is None:
            raise ValueError(
                "give hours, days or dates (a quiet window that always holds would stop "
                "every automatic cancellation for good; use dry_run: true for that)"
            )
        return self

    @property
    def quiet(self) -> QuietWindow:
        window = Window.parse(hours=self.hours or (), days=self.days or (), dates=self.dates or ())
        return QuietWindow(window=window, name=self.name)


class Calendar(Section):
    """The top-level time keys: ``timezone`` and ``quiet_windows``, validated together."""

    # The wall clock of every window (active_hours, active_days, quiet_windows).
    timezone: str = DEFAULT_TIMEZONE
    quiet_windows: Annotated[tuple[QuietWindowSettings, ...], Field(strict=False)] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        return check_timezone(name)


class Config(BaseModel):
    """The validated rules.yaml. Build it with :func:`load_config`."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    source: Path  # the rules file, as given (messages name it this way)
    store: StoreSettings = Field(default_factory=StoreSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    dry_run: bool = False
    restaurants: Annotated[tuple[Restaurant, ...], Field(strict=False, min_length=1)]
    geocoder: GeocoderSettings | None = None  # None: no geocoding
    safety: SafetySettings = Field(default_factory=SafetySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    timezone: str = DEFAULT_TIMEZONE  # an IANA name (validated through Calendar)
    quiet_windows: Annotated[tuple[QuietWindowSettings, ...], Field(strict=False)] = ()
    rules: Annotated[tuple[SerializeAsAny[Rule], ...], Field(strict=False)] = ()
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    warnings: Annotated[tuple[str, ...], Field(strict=False)] = ()
    # SHA-256 of the file's bytes as load_config read them (None: not read from a
    # file). The store records it at each load: which rules were in force when.
    digest: str | None = None

    def restaurant(self, restaurant_id: str) -> Restaurant | None:
        return next((r for r in self.restaurants if r.id == restaurant_id), None)

    @property
    def enabled_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    @property
    def zone(self) -> tzinfo:
        """``timezone`` as a zone: the wall clock of every window."""
        return time_zone(self.timezone)

    @property
    def quiet(self) -> tuple[QuietWindow, ...]:
        """``quiet_windows`` as the engine reads them."""
        return tuple(entry.quiet for entry in self.quiet_windows)


# The keys rules.yaml may have at the top level (source, warnings and digest are ours).
_OURS = ("source", "warnings", "digest")
YAML_KEYS: Final = tuple(name for name in Config.model_fields if name not in _OURS)
