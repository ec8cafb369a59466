"""The named channels of rules.yaml, ready to send: Apprise targets or a signed webhook.

Secrets are expanded from the environment here, when the sender is built,
and registered with the redactor at once, so no log line, error text or
``status`` output can show them (daemon.domain.redaction). An error from a
channel is reported by the channel's name and the kind of failure only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from daemon.config.notifications import (
    ChannelSettings,
    MissingVariable,
    NotificationSettings,
    expand,
    placeholders,
)
from daemon.domain import redaction
from daemon.domain.events import Event
from daemon.notify import render

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The channel did not take the event; the text names no secret."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    event_id: str
    event: Event
    created_at: datetime
    recipient: str | None = None  # a customer's phone (E.164), for an SMS channel


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> None: ...


_APPRISE_TYPES = {"info": "info", "success": "success", "warning": "warning", "failure": "failure"}


class AppriseChannel:
    """Apprise URLs (Telegram, Slack, e-mail, SMS gateways, json://...) or a config file."""

    def __init__(self, name: str, *, urls: tuple[str, ...], config_file: Path | None) -> None:
        self.name = name
        self._urls = urls
        self._config_file = config_file

    def _apprise(self, recipient: str | None) -> object:
        import apprise

        bundle = apprise.Apprise()
        for url in self._urls:
            # An SMS channel for customers: the phone is the last part of the URL.
            bundle.add(url if recipient is None else f"{url.rstrip('/')}/{quote(recipient)}")
        if self._config_file is not None:
            config = apprise.AppriseConfig()
            config.add(str(self._config_file))
            bundle.add(config)
        return bundle

    def send(self, message: Outgoing) -> None:
        import apprise

        bundle = self._apprise(message.recipient)
        assert isinstance(bundle, apprise.Apprise)
        title, body = render.message(message.event)
        if not bundle.notify(
            body=body or title,
            title=title,
            notify_type=_APPRISE_TYPES[message.event.severity],
        ):
            raise DeliveryFailed(f"channel '{self.name}': Apprise could not deliver to a target")


class WebhookChannel:
    """POST the event as JSON, signed with the Standard Webhooks scheme."""

    def __init__(self, name: str, *, url: str, secret: str, timeout: float) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self._timeout = timeout

    def send(self, message: Outgoing) -> None:
        import httpx
        from standardwebhooks import Webhook

        body = render.webhook_body(message.event_id, message.event, created_at=message.created_at)
        now = datetime.now(UTC)
        signature = Webhook(self._secret).sign(message.event_id, now, body)
        headers = {
            "content-type": "application/json",
            "webhook-id": message.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        try:
            answer = httpx.post(
                self._url, content=body.encode(), headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"channel '{self.name}': {type(exc).__name__}") from None
        if not answer.is_success:
            raise DeliveryFailed(f"channel '{self.name}': HTTP {answer.status_code}")


def _register_secrets(settings: ChannelSettings, environ: Mapping[str, str]) -> None:
    texts = [*settings.urls]
    if settings.webhook is not None:
        texts.append(settings.webhook.url)
        redaction.register(environ.get(settings.webhook.secret_env, ""))
    for text in texts:
        redaction.register(*(environ.get(name, "") for name in placeholders(text)))


def build_channel(
    name: str, settings: ChannelSettings, environ: Mapping[str, str], *, base_dir: Path
) -> Channel:
    """One channel with its secrets expanded; :class:`MissingVariable` when one is unset."""
    _register_secrets(settings, environ)
    if settings.webhook is not None:
        hook = settings.webhook
        secret = environ.get(hook.secret_env, "")
        if not secret:
            raise MissingVariable(hook.secret_env)
        return WebhookChannel(
            name, url=expand(hook.url, environ), secret=secret, timeout=hook.timeout_seconds
        )
    config_file = None
    if settings.config_file is not None:
        config_file = Path(settings.config_file)
        if not config_file.is_absolute():
            config_file = base_dir / config_file
    return AppriseChannel(
        name,
        urls=tuple(expand(url, environ) for url in settings.urls),
        config_file=config_file,
    )


def build_channels(
    settings: NotificationSettings, environ: Mapping[str, str], *, base_dir: Path
) -> dict[str, Channel]:
    """Every channel that can be built; one that cannot is logged (by name) and left out."""
    channels: dict[str, Channel] = {}
    for name, channel in settings.channels.items():
        try:
            channels[name] = build_channel(name, channel, environ, base_dir=base_dir)
        except MissingVariable as missing:
            log.error("channel '%s': ${%s} is not set; it delivers nothing", name, missing.name)
    return channels
