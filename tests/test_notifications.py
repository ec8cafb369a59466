"""Notifications end to end: the outbox, the sender, Apprise json:// targets and signed webhooks.

Every receiver is a real HTTP server on 127.0.0.1 (tests/receivers.py); the
cancellations go to the simulator. Tests assert what people would see:
the message that arrived, its fields, its signature, and that a
cancellation never waits for a notification.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from daemon.config.load import load_config
from daemon.domain.events import Event
from daemon.domain.timeutil import utcnow
from daemon.notify.sender import Sender
from daemon.store import connect, outbox, schema
from tests.conftest import StartDaemon
from tests.receivers import Receiver
from tests.test_daemon import eventually
from tests.world import PAYMENT_FAILED, World

SECRET = "whsec_" + base64.b64encode(b"a-very-secret-signing-key-0123456").decode()
PASSWORD = "hunter2-notify-password"

ReceiverFactory = Callable[..., Receiver]


@pytest.fixture
def receivers() -> Iterator[ReceiverFactory]:
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        receiver = Receiver(**options).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def notifications_yaml(
    *, managers: str, hook: str | None = None, events: str = "[order_cancelled]", extra: str = ""
) -> str:
    webhook = (
        f"    refunds:\n      webhook: {{url: {json.dumps(hook)}, secret_env: REFUND_SECRET}}\n"
        if hook
        else ""
    )
    routes = f"    - events: {events}\n      channels: [managers]\n"
    if hook:
        routes += "    - events: [order_refund_due, order_cancelled]\n      channels: [refunds]\n"
    return (
        "notifications:\n  channels:\n"
        f"    managers:\n      urls: [{json.dumps(managers)}]\n"
        f"{webhook}  routes:\n{routes}"
        "  delivery:\n    first_backoff_seconds: 0.1\n    poll_seconds: 0.2\n"
        f"{extra}"
    )


def env_with_secrets() -> dict[str, str]:
    return {"REFUND_SECRET": SECRET, "NOTIFY_PASSWORD": PASSWORD}


def once(world: World, *flags: str) -> None:
    result = world.cli("once", "--json", *flags, env=env_with_secrets())
    assert result.returncode == 0, result.stderr


def outbox_rows(world: World) -> list[dict[str, Any]]:
    with world.engine.connect() as connection:
        return outbox.rows(connection)


def test_a_cancellation_reaches_the_managers_and_the_signed_refund_webhook(
    world: World, receivers: ReceiverFactory
) -> None:
    chat, hook = receivers(), receivers()
    world.configure(
        PAYMENT_FAILED,
        top_level=notifications_yaml(managers=chat.json_url, hook=hook.http_url),
    )
    world.add_order("pay-1", payment_status="failed")

    once(world)

    assert len(chat.requests()) == 1
    text = chat.messages()[0]
    assert '{"payment_status": "failed"}' in text  # the rule's evidence
    for expected in ("Halaskargazi Şube", "Ödeme problemi", "payment problem", "payment-failed"):
        assert expected in text
    assert "05335587642" in text and "100.00" in text and "Kredi Kartı" in text
    # The webhook: one cancelled event and one refund hand-off (paid by card), each signed.
    bodies = {}
    for request in hook.requests():
        verified = Webhook(SECRET).verify(request.body, request.headers)
        bodies[verified["type"]] = verified
        assert request.headers["webhook-id"] == verified["id"]
    assert set(bodies) == {"order_cancelled", "order_refund_due"}
    data = bodies["order_refund_due"]["data"]
    assert data["payment_key"] == "pay-1"
    assert data["reason_id"] == 7
    assert data["reason_tr"] == "Ödeme problemi"
    assert data["reason_en"] == "payment problem"
    assert data["total"] == "100.00"
    assert data["payment_method"] == "Kredi Kartı"
    assert data["restaurant_name"] == "Halaskargazi Şube"
    assert data["order_number"] is not None
    # The ledger of notifications: every event delivered, the refund hand-off included.
    states = {row["name"]: row["state"] for row in outbox_rows(world)}
    assert states == {"order_cancelled": "delivered", "order_refund_due": "delivered"}
    (cancelled,) = [row for row in world.ledger() if row["outcome"] == "cancelled"]
    assert cancelled["evidence"]["refund_handoff"] == "delivered"


def test_an_apprise_form_target_gets_the_cancellation_as_form_fields(
    world: World, receivers: ReceiverFactory
) -> None:
    form = receivers()
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=form.form_url))
    world.add_order("pay-1", payment_status="failed")

    once(world)

    (request,) = form.requests()
    fields = request.form()
    number = _number(world, "pay-1")
    assert fields["title"] == f"autocancel: order cancelled #{number} at Halaskargazi Şube"
    assert fields["type"] == "info"
    lines = fields["message"].splitlines()
    assert lines[:7] == [
        "restaurant_name: Halaskargazi Şube",
        f"order_number: {number}",
        "reason_tr: Ödeme problemi",
        "reason_en: payment problem",
        "rule: payment-failed",
        "total: 100.00",
        "payment_method: Kredi Kartı",
    ]
    assert "customer_phone: 05335587642" in lines and "payment_key: pay-1" in lines


def test_a_tampered_webhook_body_does_not_verify(world: World, receivers: ReceiverFactory) -> None:
    chat, hook = receivers(), receivers()
    world.configure(
        PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url, hook=hook.http_url)
    )
    world.add_order("pay-1", payment_status="failed")
    once(world)
    request = hook.requests()[0]
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SECRET).verify(request.body.replace(b"pay-1", b"pay-2"), request.headers)


def test_dry_run_sends_nothing_and_lists_what_it_would_send(
    world: World, receivers: ReceiverFactory
) -> None:
    chat = receivers()
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    world.add_order("pay-1", payment_status="failed")

    result = world.cli("once", "--dry-run", env=env_with_secrets())

    assert result.returncode == 0, result.stderr
    assert "would notify order cancelled" in result.stdout
    assert "-> managers (dry run: not sent)" in result.stdout
    assert chat.requests() == []
    assert outbox_rows(world) == []
    # --json keeps stdout for decisions; the list goes to stderr.
    as_json = world.cli("once", "--dry-run", "--json", env=env_with_secrets())
    assert all(json.loads(line) for line in as_json.stdout.splitlines())
    assert "would notify" in as_json.stderr


def test_a_hanging_channel_does_not_delay_a_cancellation(
    world: World, receivers: ReceiverFactory, start_daemon: StartDaemon
) -> None:
    chat = receivers()
    chat.hold()  # the chat service accepts the connection and never answers
    world.configure(
        PAYMENT_FAILED,
        top_level=notifications_yaml(managers=chat.json_url, events="[daemon_started]"),
    )
    daemon = start_daemon()
    eventually(chat.requests, what="the daemon_started notification is being sent")
    world.add_order("pay-1", payment_status="failed")
    eventually(
        lambda: any(key == "pay-1" for key, _ in world.cancel_calls()),
        within=10,
        what="the order is cancelled while the channel hangs",
    )
    assert not chat.release.is_set()  # still hanging: the cancellation did not wait for it
    daemon.stop()


def test_a_crash_between_commit_and_delivery_is_delivered_after_restart(
    world: World, receivers: ReceiverFactory, start_daemon: StartDaemon
) -> None:
    chat = receivers()
    chat.hold()
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    world.add_order("pay-1", payment_status="failed")
    first = start_daemon()
    eventually(chat.requests, what="the notification is on its way")
    first.kill()  # SIGKILL: the outbox row stays claimed by a dead process
    (row,) = [r for r in outbox_rows(world) if r["name"] == "order_cancelled"]
    assert row["state"] == "pending"
    chat.status = 200
    chat.release.set()
    before = len(chat.requests())
    second = start_daemon()
    eventually(
        lambda: (
            {r["state"] for r in outbox_rows(world) if r["name"] == "order_cancelled"}
            == {"delivered"}
        ),
        what="the restarted daemon delivers what the dead one left",
    )
    assert len(chat.requests()) > before
    assert "Ödeme problemi" in chat.messages()[-1]
    second.stop()


def test_a_failing_channel_is_retried_with_backoff_then_given_up(
    world: World, receivers: ReceiverFactory
) -> None:
    chat = receivers(status=500)
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    config = load_config(world.rules_path)
    gave_up: list[str] = []
    sender = Sender(
        engine=world.engine,
        settings=config.notifications,
        environ={},
        base_dir=world.folder,
        on_gave_up=gave_up.append,
        immediate_wait=0.01,
    )
    with connect.writer(world.engine) as connection, connection.begin():
        outbox.add(connection, [Event("order_cancelled", "k1", {"rule": "x"})], now=utcnow())
    # The sender's clock is given: on a busy machine the three attempts may take
    # longer than the first backoff (delivery.first_backoff_seconds, 2 s) of the wall clock.
    tried_at = utcnow()
    first = sender.deliver_due(now=tried_at)
    assert first.retried == 1 and len(chat.requests()) == 3  # three quick attempts
    (row,) = outbox_rows(world)
    assert row["state"] == "pending" and row["next_attempt_at"] > tried_at
    assert sender.deliver_due(now=tried_at).retried == 0  # not due yet: backoff
    late = utcnow() + _minutes(61)
    assert sender.deliver_due(now=late).gave_up == 1
    assert gave_up == ["order_cancelled"]
    assert outbox_rows(world)[0]["state"] == "gave_up"


def _minutes(count: float) -> Any:
    from datetime import timedelta

    return timedelta(minutes=count)


def _race(world: World, chat: Receiver, events: int) -> None:
    config = load_config(world.rules_path)
    with connect.writer(world.engine) as connection, connection.begin():
        outbox.add(
            connection,
            [Event("order_cancelled", f"k{i}", {"order_number": i}) for i in range(events)],
            now=utcnow(),
        )
    senders = [
        Sender(
            engine=world.engine, settings=config.notifications, environ={}, base_dir=world.folder
        )
        for _ in range(2)
    ]
    start = threading.Barrier(2)

    def drain(sender: Sender) -> None:
        start.wait()
        while sender.deliver_due(limit=5).delivered:
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    numbers = [json.loads(r.body)["message"] for r in chat.requests()]
    assert len(numbers) == events, "every event delivered exactly once"
    assert len(set(numbers)) == events
    assert {row["state"] for row in outbox_rows(world)} == {"delivered"}


def test_two_senders_deliver_each_event_once(world: World, receivers: ReceiverFactory) -> None:
    chat = receivers()
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    _race(world, chat, 30)


@pytest.mark.postgres
def test_two_senders_deliver_each_event_once_on_postgresql(
    pg_world: World, receivers: ReceiverFactory
) -> None:
    chat = receivers()
    pg_world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    _race(pg_world, chat, 40)


def test_secrets_in_channel_urls_never_appear_in_output(
    world: World, receivers: ReceiverFactory
) -> None:
    chat = receivers(status=500)  # failing, so the error paths speak too
    url = f"json://autocancel:${{NOTIFY_PASSWORD}}@127.0.0.1:{chat.port}/hook"
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=url))
    world.add_order("pay-1", payment_status="failed")
    env = env_with_secrets()
    once_output = world.cli("once", "-v", env=env)  # the cancellation, its failing delivery
    assert chat.requests(), "the channel was tried"
    # The rest read what once left; run side by side (each is a process start-up).
    started = {
        "check": world.start_cli("check", env=env),
        "status": world.start_cli("status", env=env),
        "status --json": world.start_cli("status", "--json", env=env),
        "notify-test": world.start_cli("notify-test", "managers", env=env),
        "check, unset": world.start_cli("check"),
    }
    outputs = {"once -v": once_output.stdout + once_output.stderr}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=60)
        outputs[name] = stdout + stderr
    assert started["notify-test"].returncode == 1  # refused by the channel
    assert all(r.headers.get("authorization") for r in chat.requests())
    for name, output in outputs.items():
        assert PASSWORD not in output, name
    # Unset, the check names the variable, never a value.
    assert started["check, unset"].returncode == 2
    assert "${NOTIFY_PASSWORD} is not set in the environment" in outputs["check, unset"]


def test_check_reports_bad_notification_config_with_file_and_line(world: World) -> None:
    world.configure(
        PAYMENT_FAILED,
        top_level=(
            "notifications:\n  channels:\n"
            '    managers:\n      urls: ["nosuchservice://s3cr3t-token@example.org"]\n'
            "  routes:\n"
            "    - events: [order_cancelled]\n      channels: [managers, kitchen]\n"
        ),
    )
    result = world.cli("check")
    output = result.stdout + result.stderr
    assert result.returncode == 2
    lines = world.rules_path.read_text().splitlines()
    url_line = next(i for i, line in enumerate(lines, 1) if "nosuchservice" in line)
    assert (
        f"rules.yaml:{url_line}: channel 'managers': Apprise cannot use this nosuchservice://"
        in (output)
    )
    assert "unknown channel 'kitchen' (channels: managers)" in output
    assert "s3cr3t-token" not in output

    world.configure(
        PAYMENT_FAILED,
        top_level=(
            'notifications:\n  channels:\n    managers:\n      urls: ["json://127.0.0.1/x"]\n'
            "  routes:\n    - events: [order_exploded]\n      channels: [managers]\n"
        ),
    )
    result = world.cli("check")
    assert result.returncode == 2
    assert "order_exploded" in result.stdout + result.stderr
    assert "order_cancelled" in result.stdout + result.stderr  # the valid ones are listed


IN_CLEAR = {
    # channel: (URL as written, the secret written in it, the part check names)
    "telegram": ("tgram://123456:ABC-literal-bot-token/5555", "ABC-literal-bot-token", "bot token"),
    "email": (
        "mailtos://ops:mail-pass-in-clear@mail.example.com",
        "mail-pass-in-clear",
        "password",
    ),
    "hook": ("json://ops:json-pass-in-clear@127.0.0.1:9/hook", "json-pass-in-clear", "password"),
    "slack": (
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "TIiajkdnlazkcOXrIdevi7FQ",
        "token a and token b and token c",
    ),
}
FROM_ENV = {
    "telegram": "tgram://${TG_TOKEN}/5555",
    "email": "mailtos://ops:${SMTP_PASSWORD}@mail.example.com",
    "hook": "json://ops:${NOTIFY_PASSWORD}@127.0.0.1:9/hook",
    "slack": "slack://${SLACK_TOKENS}",
}


def _channels_yaml(urls: dict[str, str]) -> str:
    channels = "".join(
        f"    {name}:\n      urls: [{json.dumps(url)}]\n" for name, url in urls.items()
    )
    return (
        f"notifications:\n  channels:\n{channels}"
        "  routes:\n    - events: [order_cancelled]\n"
        f"      channels: [{', '.join(urls)}]\n"
    )


def test_check_refuses_a_secret_written_in_clear_in_a_channel_url(world: World) -> None:
    world.configure(
        PAYMENT_FAILED, top_level=_channels_yaml({k: v[0] for k, v in IN_CLEAR.items()})
    )

    result = world.cli("check")

    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    lines = world.rules_path.read_text().splitlines()
    for name, (url, secret, part) in IN_CLEAR.items():
        line = next(i for i, text in enumerate(lines, 1) if url in text)
        scheme = url.partition("://")[0]
        assert (
            f"rules.yaml:{line}: channel '{name}': the {scheme}:// URL holds its {part} in "
            "clear; put the value in the environment file and write ${VAR} in its place"
        ) in output
        assert secret not in output
    # The daemon refuses the file too: one line per problem, nothing started.
    refused = world.cli("once")
    assert refused.returncode == 2
    assert "ABC-literal-bot-token" not in refused.stdout + refused.stderr

    world.configure(PAYMENT_FAILED, top_level=_channels_yaml(FROM_ENV))
    env = {
        "TG_TOKEN": "123456:ABC-from-the-environment",
        "SMTP_PASSWORD": "smtp-from-env",
        "NOTIFY_PASSWORD": "json-from-env",
        "SLACK_TOKENS": "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    }
    fine = world.cli("check", env=env)
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "in clear" not in fine.stdout + fine.stderr


def test_events_without_a_route_are_settled_without_sending(world: World) -> None:
    world.add_order("pay-1", payment_status="failed")
    world.configure(PAYMENT_FAILED)
    once(world)
    rows = outbox_rows(world)
    # Paid by card: the cancellation and its refund hand-off, neither routed anywhere.
    assert [row["name"] for row in rows] == ["order_cancelled", "order_refund_due"]
    assert all(r["state"] == "delivered" and r["delivered_channels"] == [] for r in rows)


def test_the_outbox_row_is_written_with_the_ledger_outcome(world: World) -> None:
    """No cancellation, no event: a refused cancel announces a failure instead."""
    world.configure(PAYMENT_FAILED)
    world.add_order("pay-1", payment_status="failed", on_platform=False)  # Dükkango: 404
    once(world)
    with world.engine.connect() as connection:
        names = [r.name for r in connection.execute(sa.select(schema.outbox.c.name))]
    assert names == ["order_cancel_failed"]


OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
"""


def test_the_customer_is_told_once_with_the_item_named(
    world: World, receivers: ReceiverFactory
) -> None:
    chat, sms = receivers(), receivers()
    customer = (
        "  customer:\n    enabled: true\n    channel: sms\n    language: tr\n"
        "    templates:\n      7: 'Ödeme alınamadı, sipariş #$order_number iptal.'\n"
    )
    top = notifications_yaml(managers=chat.json_url, extra=customer).replace(
        "  routes:\n", f"    sms:\n      urls: [{json.dumps(sms.json_url)}]\n  routes:\n", 1
    )
    world.configure(OUT_OF_STOCK, top_level=top)
    world.set_stock(1, available=False)
    world.add_order("pay-1", items=[(1, 1)])
    world.add_order("pay-2", items=[(1, 1)], phone="12345")  # not a Turkish number: skipped

    once(world)
    once(world)  # nothing new: the customer is never told twice

    (request,) = sms.requests()
    assert request.path == "/hook/+905335587642"  # E.164, as the gateway's recipient
    assert sms.messages() == [
        f"Üzgünüz, food 1 stokta kalmadı. #{_number(world, 'pay-1')} numaralı siparişiniz "
        "iptal edildi."
    ]


def _number(world: World, key: str) -> int:
    with world.engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(schema.orders.c.order_number).where(schema.orders.c.payment_key == key)
            ).scalar_one()
        )


def test_a_customer_template_with_an_unknown_placeholder_is_a_check_error(world: World) -> None:
    world.configure(
        PAYMENT_FAILED,
        top_level=(
            'notifications:\n  channels:\n    sms:\n      urls: ["json://127.0.0.1/x"]\n'
            "  customer:\n    enabled: true\n    channel: sms\n"
            "    templates:\n      1: 'Sorry, $itme is gone'\n"
        ),
    )
    result = world.cli("check")
    assert result.returncode == 2
    assert "unknown placeholder(s) $itme" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("05335587642", "+905335587642"),
        ("0533 558 76 42", "+905335587642"),
        ("+90 533 558 76 42", "+905335587642"),
        ("905335587642", "+905335587642"),
        ("5335587642", "+905335587642"),
        ("02123334455", "+902123334455"),
        ("12345", None),
        ("+4915112345678", None),
        ("", None),
        ("05x3", None),
    ],
)
def test_turkish_numbers_are_normalised_to_e164(given: str, expected: str | None) -> None:
    from daemon.domain.customer_messages import e164_turkey

    assert e164_turkey(given) == expected


def test_notify_test_sends_to_the_channel_and_status_counts_the_outbox(
    world: World, receivers: ReceiverFactory
) -> None:
    chat = receivers()
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    result = world.cli("notify-test", "managers")
    assert result.returncode == 0, result.stderr
    assert "autocancel test message" in chat.messages()[0]
    unknown = world.cli("notify-test", "kitchen")
    assert unknown.returncode == 2
    assert "no channel 'kitchen' in notifications.channels (managers)" in unknown.stderr

    world.add_order("pay-1", payment_status="failed")
    once(world)
    status = world.cli("status")
    assert "notifications: 0 waiting, 2 delivered, 0 given up" in status.stdout
    down = receivers(status=500)
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=down.json_url))
    failing = world.cli("notify-test", "managers")
    assert failing.returncode == 1
    assert "error: channel 'managers': Apprise could not deliver to a target" in failing.stderr


def test_a_dry_run_daemon_tells_nobody(
    world: World, receivers: ReceiverFactory, start_daemon: StartDaemon
) -> None:
    chat = receivers()
    world.configure(
        PAYMENT_FAILED,
        top_level=notifications_yaml(
            managers=chat.json_url, events="[daemon_started, daemon_stopping, order_cancelled]"
        ),
    )
    world.add_order("pay-1", payment_status="failed")
    daemon = start_daemon("--dry-run", env={"DUKKANGO_ACCESS_TOKEN": ""})
    eventually(
        lambda: any(r["outcome"] == "would_cancel" for r in world.ledger()),
        what="a dry-run decision",
    )
    assert daemon.stop() == 0  # stopping delivers what is due: nothing
    assert chat.requests() == []
    assert outbox_rows(world) == []


def test_a_manual_cancellation_is_announced_too(world: World, receivers: ReceiverFactory) -> None:
    chat = receivers()
    world.configure(PAYMENT_FAILED, top_level=notifications_yaml(managers=chat.json_url))
    world.add_order("pay-1")
    result = world.cli("cancel", "pay-1", "--reason", "4", "--yes", "--by", "ayse")
    assert result.returncode == 0, result.stderr
    (text,) = chat.messages()
    assert "Müşteri iptal etti" in text and "Halaskargazi Şube" in text


def test_a_reload_names_a_changed_channel_url_without_showing_it(world: World) -> None:
    from daemon.service.reloading import changes

    world.configure(
        PAYMENT_FAILED, top_level=notifications_yaml(managers="json://127.0.0.1:9/clear-secret-1")
    )
    old = load_config(world.rules_path)
    world.configure(
        PAYMENT_FAILED, top_level=notifications_yaml(managers="json://127.0.0.1:9/clear-secret-2")
    )
    new = load_config(world.rules_path)
    described = [change.describe() for change in changes(old, new)]
    assert described == ["notifications.channels.managers.urls *** -> ***"]


def test_a_webhook_url_with_a_password_or_token_in_clear_is_refused_too() -> None:
    from pathlib import Path

    from daemon.config.notifications import NotificationSettings, channel_problems

    def problems(url: str, environ: dict[str, str]) -> list[str]:
        section = NotificationSettings.model_validate(
            {"channels": {"refunds": {"webhook": {"url": url, "secret_env": "HOOK_SECRET"}}}}
        )
        found = channel_problems(section, {"HOOK_SECRET": SECRET, **environ}, base_dir=Path("."))
        return [problem.message for problem in found]

    (message,) = problems("https://pay:hunter2-clear@pay.example.com/h?token=tok-in-clear", {})
    assert "holds its password and token= parameter in clear" in message
    assert "hunter2-clear" not in message and "tok-in-clear" not in message
    env = {"PAY_PASSWORD": "from-env-1", "PAY_TOKEN": "from-env-2"}
    assert problems("https://pay:${PAY_PASSWORD}@pay.example.com/h?token=${PAY_TOKEN}", env) == []
    assert problems("https://pay.example.com/hooks/autocancel?version=2", {}) == []


def test_route_filters_choose_by_restaurant_rule_and_reason() -> None:
    """The routes of rules.yaml as the sender reads them: a filter must match every field given."""
    from pathlib import Path

    from daemon.config.notifications import NotificationSettings

    settings = NotificationSettings.model_validate(
        {
            "channels": {
                name: {"urls": ["json://127.0.0.1/x"]} for name in ("akat", "stock", "all")
            },
            "routes": [
                {"events": ["order_cancelled"], "channels": ["akat"], "restaurant": "Akat Şube"},
                {"events": ["order_cancelled"], "channels": ["stock"], "reason": 1},
                {"events": ["order_cancelled"], "channels": ["stock"], "rule": "too-far"},
                {"events": ["order_cancelled", "cap_reached"], "channels": ["all", "akat"]},
            ],
        }
    )
    sender = Sender(engine=None, settings=settings, environ={}, base_dir=Path("."), channels={})

    def targets(name: str = "order_cancelled", **fields: Any) -> list[str]:
        return sender.targets(Event(name, None, fields))  # type: ignore[arg-type]

    akat_out_of_stock = targets(restaurant_name="Akat Şube", reason_id=1, rule="out-of-stock")
    assert akat_out_of_stock == ["akat", "stock", "all"]  # each channel once
    assert targets(restaurant_id="elsewhere", reason_id=7, rule="payment-failed") == [
        "all",
        "akat",
    ]
    assert targets(restaurant_id="elsewhere", reason_id=6, rule="too-far") == [
        "stock",
        "all",
        "akat",
    ]
    assert targets("cap_reached", held=3) == ["all", "akat"]
    assert targets("pass_held", held=3) == []
