"""rules.yaml as validated, immutable settings: :func:`load_config` and :class:`Config`.

Every command validates the whole file first (DESIGN.md). Validation never
stops at the first problem: each section and each rule is checked on its own
and everything wrong is reported at once, as ``FILE:LINE: message`` lines on
:class:`ConfigError`. The models are frozen, reject unknown keys and do not
coerce types, so a typo or a quoted number is reported instead of guessed at.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.config.restaurant_checks import restaurant_warnings
from daemon.config.rules_section import build_rules, describe_value, problems_from
from daemon.config.yamlsource import YamlDocument, YamlSyntaxError, load_yaml
from daemon.domain.problems import REJECTED, Problem, Severity, YamlPath
from rules import Rule, registry
from rules.validation import RestaurantFacts, ValidationContext

DEFAULT_STORE_URL: Final = "sqlite:///orders.db"
DEFAULT_BASE_URL: Final = "https://www.xn--dkkango-n2a.com/api/integrations"
STORE_URL_ENV: Final = "AUTOCANCEL_STORE_URL"
BASE_URL_ENV: Final = "DUKKANGO_BASE_URL"


class ConfigError(Exception):
    """rules.yaml is unusable; ``errors`` holds one ``FILE:LINE: message`` per problem.

    ``salvaged`` is what still validated (see :class:`Salvaged`), for the
    commands that only read the store; None when not even the store is known.
    """

    def __init__(self, errors: Sequence[str], *, salvaged: Salvaged | None = None) -> None:
        self.errors = list(errors)
        self.salvaged = salvaged
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True, kw_only=True)
class Salvaged:
    """The parts of an invalid rules file that validated: never used to act.

    ``config`` has the valid sections, restaurants and rules; defaults stand
    in for the sections named in ``broken``, which a reader must not trust.
    """

    config: Config
    broken: frozenset[str]


class _Section(BaseModel):
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


class StoreSettings(_Section):
    # Any SQLAlchemy URL. A relative SQLite path is relative to the rules file.
    url: str = DEFAULT_STORE_URL

    @field_validator("url")
    @classmethod
    def _url_is_url(cls, url: str) -> str:
        return check_store_url(url)


class ApiSettings(_Section):
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


class ScheduleSettings(_Section):
    interval_seconds: float = Field(default=15, gt=0)


class Restaurant(_Section):
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


class GeocoderSettings(_Section):
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


class SafetySettings(_Section):
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


SyncOwnership = Literal["synced", "all"]


class SyncSettings(_Section):
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


class MetricsSettings(_Section):
    # Serve Prometheus metrics from `autocancel run` on this port; None = off.
    port: int | None = Field(default=None, ge=1, le=65535)
    # Loopback by default: metrics are for the local scraper.
    address: str = "127.0.0.1"


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
    rules: Annotated[tuple[SerializeAsAny[Rule], ...], Field(strict=False)] = ()
    warnings: Annotated[tuple[str, ...], Field(strict=False)] = ()

    def restaurant(self, restaurant_id: str) -> Restaurant | None:
        return next((r for r in self.restaurants if r.id == restaurant_id), None)

    @property
    def enabled_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)


# The keys rules.yaml may have at the top level (source and warnings are ours).
YAML_KEYS: Final = tuple(name for name in Config.model_fields if name not in ("source", "warnings"))

Section = TypeVar("Section", bound=_Section)


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a rules file; raise :class:`ConfigError` listing every problem."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{source}: no such file; pass -c PATH or set AUTOCANCEL_CONFIG "
                "(the default is ./rules.yaml)"
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a rules file"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([f"{source}:{line}: not UTF-8 text; save the file as UTF-8"]) from None
    return parse_config(text, source=source, environ=os.environ if environ is None else environ)


def parse_config(text: str, *, source: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Validate rules.yaml ``text``; ``source`` is only used to name and locate things."""
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError([f"{source}:{exc.line}: {exc.message}"]) from None
    return _Validation(document, source=source, environ=environ or {}).run()


def resolve_sqlite_url(url: str, *, base_dir: Path) -> str:
    """Make a relative SQLite path absolute against ``base_dir``; leave other URLs alone."""
    match = re.match(r"^(?P<scheme>sqlite(?:\+\w+)?):///(?P<rest>.*)$", url, flags=re.DOTALL)
    if match is None:
        return url
    path, separator, query = match["rest"].partition("?")
    if not path or path == ":memory:" or path.startswith(("/", "file:")):
        return url
    return f"{match['scheme']}:///{os.path.abspath(base_dir / path)}{separator}{query}"


class _Validation:
    """One validation run: collects every problem, then builds the Config or fails."""

    def __init__(self, document: YamlDocument, *, source: Path, environ: Mapping[str, str]) -> None:
        self.document = document
        self.source = source
        self.environ = environ
        self.problems: list[Problem] = list(document.problems)
        self.environment_errors: list[str] = []
        # Paths whose value failed validation; cross-check findings there are noise.
        self.broken: set[YamlPath] = set()

    def run(self) -> Config:
        data = self.document.data
        if data is REJECTED:
            raise ConfigError(self._format("error"))
        if data is None:
            raise ConfigError(
                [
                    f"{self.source}:1: the file is empty; start from the shipped, commented "
                    "rules.yaml"
                ]
            )
        if not isinstance(data, dict):
            line = self.document.line_of(())
            raise ConfigError(
                [
                    f"{self.source}:{line}: the top level must be a mapping of sections "
                    f"({', '.join(YAML_KEYS)}); got {describe_value(data)}"
                ]
            )
        for key in data:
            if key not in YAML_KEYS:
                self.problems.append(
                    Problem.error(
                        (key,),
                        f"unknown key '{key}' at the top level; valid keys: "
                        f"{', '.join(sorted(YAML_KEYS))}",
                        anchor="key",
                    )
                )
        store = self._section(data, "store", StoreSettings)
        api = self._section(data, "api", ApiSettings)
        schedule = self._section(data, "schedule", ScheduleSettings)
        safety = self._section(data, "safety", SafetySettings)
        sync = self._section(data, "sync", SyncSettings)
        metrics = self._section(data, "metrics", MetricsSettings)
        geocoder = None
        if data.get("geocoder") is not None:
            geocoder = self._section(data, "geocoder", GeocoderSettings)
        dry_run = self._dry_run(data)
        restaurants = self._restaurants(data)
        store, api = self._environment_overrides(store, api)
        if store is not None:
            base_dir = Path(os.path.abspath(self.source)).parent
            store = store.model_copy(
                update={"url": resolve_sqlite_url(store.url, base_dir=base_dir)}
            )

        placed_rules, rule_problems = build_rules(
            data.get("rules"), document=self.document, registry=registry
        )
        self.problems += rule_problems
        if not placed_rules and not rule_problems:
            self.problems.append(
                Problem.warning(
                    ("rules",),
                    "no rules configured; autocancel will watch orders but never cancel any",
                    anchor="key",
                )
            )
        rules = tuple(rule for _, rule in placed_rules)
        fields: dict[str, Any] = {
            "source": self.source,
            "store": store or StoreSettings(),
            "api": api or ApiSettings(),
            "schedule": schedule or ScheduleSettings(),
            "dry_run": bool(dry_run),
            "restaurants": tuple(r for r in restaurants or () if r is not None),
            "geocoder": geocoder,
            "safety": safety or SafetySettings(),
            "sync": sync or SyncSettings(),
            "metrics": metrics or MetricsSettings(),
            "rules": rules,
        }
        # Cross-checks see the best configuration we have. A broken restaurant
        # keeps its place (so indices match the file) as a stand-in with
        # coordinates; findings pointing into anything broken would only repeat
        # its own errors, so they are dropped.
        geocoder = fields.get("geocoder")
        safety_settings = fields["safety"]
        setting = ValidationContext(
            restaurants=tuple(
                RestaurantFacts(
                    index=i,
                    display_name=r.display_name if r else f"#{i}",
                    has_coordinates=r.has_coordinates if r else True,
                )
                for i, r in enumerate(restaurants or ())
            ),
            geocoder_configured=geocoder is not None,
            max_plausible_km=safety_settings.max_plausible_km,
        )
        for at, rule in placed_rules:
            for problem in rule.validate_against(setting, at=at):
                if not any(problem.path[: len(bad)] == bad for bad in self.broken):
                    self.problems.append(problem)

        errors = self._format("error") + self.environment_errors
        if errors:
            raise ConfigError(errors, salvaged=self._salvage(fields, store is not None))
        warnings = tuple(self._format("warning"))
        return Config(**fields, warnings=warnings)

    def _salvage(self, fields: dict[str, Any], store_known: bool) -> Salvaged | None:
        """What validated, for read-only commands; None when the store itself is unknown."""
        if not store_known or self.environment_errors:
            return None
        broken = frozenset(
            str(problem.path[0])
            for problem in self.problems
            if problem.severity == "error" and problem.path
        ) | frozenset(str(path[0]) for path in self.broken if path)
        return Salvaged(config=Config.model_construct(**fields, warnings=()), broken=broken)

    # --- sections -----------------------------------------------------------

    def _section(self, data: dict[str, Any], name: str, model: type[Section]) -> Section | None:
        value = data.get(name)
        if value is None:  # absent, or every key commented out: the defaults
            return model.model_validate({})
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self._fail((name,), problems_from(exc, document=self.document, at=(name,), model=model))
            return None

    def _dry_run(self, data: dict[str, Any]) -> bool | None:
        try:
            return TypeAdapter(bool).validate_python(data.get("dry_run", False), strict=True)
        except ValidationError as exc:
            at = ("dry_run",)
            self._fail(at, problems_from(exc, document=self.document, at=at, model=None))
            return None

    def _restaurants(self, data: dict[str, Any]) -> list[Restaurant | None] | None:
        """The restaurants in file order, None for a broken one; None if the list is."""
        value = data.get("restaurants")
        if value is REJECTED:  # already reported by the YAML loader
            self.broken.add(("restaurants",))
            return None
        if value is None or value == []:
            self._fail(
                ("restaurants",),
                [
                    Problem.error(
                        ("restaurants",),
                        "no restaurants configured; add at least one under 'restaurants:' "
                        "(id, name, latitude, longitude)",
                        anchor="key",
                    )
                ],
            )
            return None
        if not isinstance(value, list):
            given = describe_value(value, self.document.text_of(("restaurants",)))
            self._fail(
                ("restaurants",),
                [Problem.error(("restaurants",), f"restaurants must be a list (got {given})")],
            )
            return None
        restaurants: list[Restaurant | None] = []
        for index, item in enumerate(value):
            # One at a time, so one broken entry hides nothing about the others.
            at = ("restaurants", index)
            try:
                restaurants.append(Restaurant.model_validate(item))
            except ValidationError as exc:
                restaurants.append(None)
                self._fail(at, problems_from(exc, document=self.document, at=at, model=Restaurant))
        first_seen: dict[str, int] = {}
        for index, item in enumerate(value):
            restaurant_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(restaurant_id, str):
                continue
            if restaurant_id in first_seen:
                self.problems.append(
                    Problem.error(
                        ("restaurants", index, "id"),
                        f"restaurants[{index}]: duplicate restaurant id '{restaurant_id}' "
                        f"(also restaurants[{first_seen[restaurant_id]}]); list each "
                        "restaurant once",
                    )
                )
            first_seen.setdefault(restaurant_id, index)
        for index, restaurant in enumerate(restaurants):
            if restaurant is not None:
                self.problems += restaurant_warnings(
                    index,
                    restaurant_id=restaurant.id,
                    name=restaurant.name,
                    latitude=restaurant.latitude,
                    longitude=restaurant.longitude,
                )
        return restaurants

    def _environment_overrides(
        self, store: StoreSettings | None, api: ApiSettings | None
    ) -> tuple[StoreSettings | None, ApiSettings | None]:
        # An empty value counts as unset, as systemd EnvironmentFile lines often are.
        if store_url := self.environ.get(STORE_URL_ENV, "").strip():
            try:
                store = StoreSettings.model_construct(url=check_store_url(store_url))
            except ValueError as exc:
                self.environment_errors.append(f"{STORE_URL_ENV} (environment) {exc}")
        if base_url := self.environ.get(BASE_URL_ENV, "").strip():
            try:
                checked = check_base_url(base_url)
            except ValueError as exc:
                self.environment_errors.append(f"{BASE_URL_ENV} (environment) {exc}")
            else:
                if api is not None:
                    api = api.model_copy(update={"base_url": checked})
        return store, api

    def _fail(self, path: YamlPath, problems: list[Problem]) -> None:
        self.broken.add(path)
        self.problems += problems

    # --- output -------------------------------------------------------------

    def _format(self, severity: Severity) -> list[str]:
        """``FILE:LINE: message`` lines of one severity, in file order."""
        located: list[tuple[int, int, str]] = []
        for order, problem in enumerate(self.problems):
            if problem.severity == severity:
                line = self.document.line_of(problem.path, anchor=problem.anchor)
                located.append((line, order, f"{self.source}:{line}: {problem.message}"))
        return [text for _, _, text in sorted(located)]
