"""The ``notifications`` section of rules.yaml: channels, routes, delivery and customer messages.

Channel URLs are kept as written, ``${VAR}`` placeholders and all: the
secrets they name are read from the environment only when a message is
sent (:func:`expand`), so they never sit in the configuration, in a reload
diff or in ``check``'s output. :func:`channel_problems` checks, for ``check``
and every load, that each placeholder is set, that Apprise can parse
each URL once expanded, and that no secret part of a URL (those Apprise
marks private: a password, a bot token) is written in clear rather than
as a ``${VAR}``, naming the channel and the part, never the URL.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from daemon.domain.customer_messages import PLACEHOLDERS, unknown_placeholders
from daemon.domain.events import EVENT_NAMES
from daemon.domain.problems import Problem, YamlPath

_PLACEHOLDER: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class MissingVariable(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text)


def expand(text: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` replaced by the environment's value; :class:`MissingVariable` when unset."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = environ.get(name, "")
        if not found:
            raise MissingVariable(name)
        return found

    return _PLACEHOLDER.sub(value, text)


class WebhookSettings(_Strict):
    """A signed webhook (Standard Webhooks): POST the event as JSON, HMAC-signed."""

    url: str = Field(min_length=1)  # may hold ${VAR}
    # The environment variable holding the signing secret (whsec_..., base64).
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_seconds: float = Field(default=10, gt=0, le=120)


class ChannelSettings(_Strict):
    """A named channel: Apprise URLs, an Apprise config file, or a signed webhook."""

    urls: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(strict=False)] = ()
    config_file: str | None = Field(default=None, min_length=1)
    webhook: WebhookSettings | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ChannelSettings:
        given = [bool(self.urls), self.config_file is not None, self.webhook is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of urls (Apprise URLs), config_file or webhook")
        return self


class RouteSettings(_Strict):
    """Which events go to which channels, optionally only some restaurant, rule or reason."""

    events: Annotated[tuple[str, ...], Field(strict=False, min_length=1)]
    channels: Annotated[tuple[str, ...], Field(strict=False, min_length=1)]
    restaurant: str | None = None  # a restaurant id or its name in rules.yaml
    rule: str | None = None
    reason: int | None = Field(default=None, ge=1, le=8)

    @field_validator("events")
    @classmethod
    def _known_events(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name not in EVENT_NAMES:
                close = difflib.get_close_matches(name, EVENT_NAMES, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(f"unknown event '{name}'{hint} (valid: {', '.join(EVENT_NAMES)})")
        return names


class DeliverySettings(_Strict):
    # An event no channel took within this long is given up (metric, status, log).
    give_up_after_minutes: float = Field(default=60, gt=0)
    # Retries back off from first_backoff_seconds, doubling, up to max_backoff_seconds.
    first_backoff_seconds: float = Field(default=2, gt=0, le=600)
    max_backoff_seconds: float = Field(default=300, gt=0, le=3600)
    # How often the sender looks for due events.
    poll_seconds: float = Field(default=2, gt=0, le=60)


Language = Literal["tr", "en"]


class CustomerSettings(_Strict):
    """Telling the customer why the order was cancelled: off unless enabled."""

    enabled: bool = False
    channel: str | None = None  # an SMS channel; the phone is appended to each URL
    language: Language = "tr"
    # Per reason id, a string.Template ($order_number, $restaurant_name, $items ...).
    templates: Annotated[dict[int, str], Field(strict=False)] = Field(default_factory=dict)

    @field_validator("templates", mode="before")
    @classmethod
    def _reason_keys(cls, templates: object) -> object:
        # YAML mapping keys reach us as text on one of the loaders: 7 and "7" are one reason.
        if isinstance(templates, dict):
            return {
                int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in templates.items()
            }
        return templates

    @field_validator("templates")
    @classmethod
    def _templates_fill(cls, templates: dict[int, str]) -> dict[int, str]:
        for reason_id, template in templates.items():
            if not 1 <= reason_id <= 8:
                raise ValueError(f"templates: reason {reason_id} is not a reason id (1-8)")
            unknown = unknown_placeholders(template)
            if unknown:
                raise ValueError(
                    f"templates[{reason_id}]: unknown placeholder(s) "
                    f"{', '.join('$' + u for u in unknown)} (known: "
                    f"{', '.join('$' + p for p in sorted(PLACEHOLDERS))})"
                )
        return templates

    @model_validator(mode="after")
    def _channel_when_enabled(self) -> CustomerSettings:
        if self.enabled and self.channel is None:
            raise ValueError("customer.enabled needs customer.channel (an SMS channel)")
        return self


class NotificationSettings(_Strict):
    channels: Annotated[dict[str, ChannelSettings], Field(strict=False)] = Field(
        default_factory=dict
    )
    routes: Annotated[tuple[RouteSettings, ...], Field(strict=False)] = ()
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    customer: CustomerSettings = Field(default_factory=CustomerSettings)

    @property
    def configured(self) -> bool:
        return bool(self.routes) or self.customer.enabled


def unknown_channel_problems(section: NotificationSettings) -> list[Problem]:
    """Routes and the customer setting naming a channel that is not defined."""
    known = sorted(section.channels)
    valid = ", ".join(known) or "none defined"
    problems = []
    for index, route in enumerate(section.routes):
        for position, name in enumerate(route.channels):
            if name not in section.channels:
                problems.append(
                    Problem.error(
                        ("notifications", "routes", index, "channels", position),
                        f"unknown channel '{name}' (channels: {valid})",
                    )
                )
    customer = section.customer
    if customer.channel is not None and customer.channel not in section.channels:
        problems.append(
            Problem.error(
                ("notifications", "customer", "channel"),
                f"unknown channel '{customer.channel}' (channels: {valid})",
            )
        )
    return problems


def _urls(section: NotificationSettings) -> Iterator[tuple[YamlPath, str, str]]:
    for name, channel in section.channels.items():
        for index, url in enumerate(channel.urls):
            yield ("notifications", "channels", name, "urls", index), name, url
        if channel.webhook is not None:
            yield ("notifications", "channels", name, "webhook", "url"), name, channel.webhook.url


def channel_problems(
    section: NotificationSettings, environ: Mapping[str, str], *, base_dir: Path
) -> list[Problem]:
    """Unset ``${VAR}``\\ s, URLs Apprise cannot parse, missing config files and secrets.

    Messages name the channel and the URL's scheme, never the URL: it may
    hold a secret once expanded, or in clear when someone wrote one there.
    """
    problems = []
    for path, name, url in _urls(section):
        try:
            expanded = expand(url, environ)
        except MissingVariable as missing:
            problems.append(
                Problem.error(
                    path,
                    f"channel '{name}': ${{{missing.name}}} is not set in the environment",
                )
            )
            continue
        scheme = expanded.partition("://")[0] if "://" in expanded else "(no scheme)"
        from_environment = [environ[v] for v in placeholders(url) if environ.get(v)]
        if path[3] == "webhook":
            if not re.match(r"^https?://[^/\s]+", expanded):
                problems.append(
                    Problem.error(path, f"channel '{name}': the webhook URL must be http(s)://")
                )
                continue
            in_clear = _literal(_webhook_secrets(expanded), from_environment)
        else:
            parts = apprise_private_parts(expanded)
            if parts is None:
                problems.append(
                    Problem.error(
                        path,
                        f"channel '{name}': Apprise cannot use this {scheme}:// URL (unknown "
                        "service or malformed; the URL is not shown, it may hold a secret)",
                    )
                )
                continue
            in_clear = _literal(parts, from_environment)
        if in_clear:
            problems.append(
                Problem.error(
                    path,
                    f"channel '{name}': the {scheme}:// URL holds its {' and '.join(in_clear)} "
                    "in clear; put the value in the environment file and write ${VAR} in its "
                    "place (the value is not shown)",
                )
            )
    for name, channel in section.channels.items():
        if channel.config_file is not None:
            file = Path(channel.config_file)
            if not (file if file.is_absolute() else base_dir / file).is_file():
                problems.append(
                    Problem.error(
                        ("notifications", "channels", name, "config_file"),
                        f"channel '{name}': no Apprise config file at {channel.config_file}",
                    )
                )
        if channel.webhook is not None and not environ.get(channel.webhook.secret_env):
            problems.append(
                Problem.error(
                    ("notifications", "channels", name, "webhook", "secret_env"),
                    f"channel '{name}': {channel.webhook.secret_env} (the signing secret) is "
                    "not set in the environment",
                )
            )
    return problems


def _literal(parts: Mapping[str, list[str]], from_environment: list[str]) -> list[str]:
    """The secret parts none of whose text came from a ``${VAR}``: written in clear.

    A part counts as the environment's when an expanded value is in it (a
    token written half literally, half ``${VAR}``, keeps the secret half out)
    or it is in an expanded value (one ``${VAR}`` holding a whole URL).
    """
    return [
        label
        for label, values in parts.items()
        if not any(v in e or e in v for v in values for e in from_environment)
    ]


def _webhook_secrets(url: str) -> dict[str, list[str]]:
    """A webhook URL's password, and query values whose names say they are secret."""
    from urllib.parse import parse_qsl, urlsplit

    from daemon.domain.redaction import looks_secret

    split = urlsplit(url)
    found = {"password": [split.password]} if split.password else {}
    for key, value in parse_qsl(split.query):
        if value and looks_secret(key):
            found[f"{key}= parameter"] = [value]
    return found


def apprise_private_parts(url: str) -> dict[str, list[str]] | None:
    """The parts of ``url`` its Apprise service marks private, by name; None if unusable.

    Apprise knows each service's secrets: its URL templates flag tokens and
    arguments ``private`` (Telegram's bot token, Slack's three tokens, an
    e-mail password). A password in ``user:password@`` always counts.
    """
    import apprise  # only a file with notifications pays for Apprise's plugins

    # Apprise logs an unparseable URL whole, secret included: not here.
    quiet = logging.getLogger("apprise")
    was = quiet.disabled
    quiet.disabled = True
    try:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            return None
        service = type(plugin)
        parsed = service.parse_url(url) or {}
    finally:
        quiet.disabled = was
    templates = {**service.template_tokens, **service.template_args}
    labels = {"password": "password"}
    for key, template in templates.items():
        if template.get("private"):
            label = str(template.get("name") or key).lower()
            labels[key] = label
            if template.get("map_to"):
                labels[template["map_to"]] = label
    found: dict[str, list[str]] = {}
    for key, label in labels.items():
        value = parsed.get(key)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        texts = [v for v in values if isinstance(v, str) and v]
        if texts:
            found.setdefault(label, []).extend(texts)
    if any(label != "password" and v == found.get("password") for label, v in found.items()):
        del found["password"]  # the service's own name for it says more (auth token)
    return found
