"""The Dükkango client against the simulator, over real HTTP on loopback."""

from __future__ import annotations

import http.server
import logging
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypedDict, Unpack

import pytest

from daemon.dukkango.client import DukkangoClient
from daemon.dukkango.errors import (
    ApiError,
    BadRequest,
    CredentialsMissing,
    DukkangoError,
    Forbidden,
    InvalidId,
    MissingField,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    Unauthorized,
    UnexpectedResponse,
)
from daemon.simulator.defaults import AKAT, HALASKARGAZI
from daemon.simulator.recording import RecordedRequest
from daemon.simulator.server import Simulator
from tests.conftest import SimulatorFactory
from tests.test_daemon import eventually

APP_SECRET = "app-SECRET-4f1d9a"
REST_SECRET = "rest-SECRET-77c2e0"
STATIC_TOKEN = "static-TOKEN-0b9e51"


class ClientOptions(TypedDict, total=False):
    """``DukkangoClient`` keywords; ``make_client`` fills in what a test leaves out."""

    base_url: str
    timeout: float
    access_token: str | None
    app_secret_key: str | None
    rest_secret_key: str | None
    clock: Callable[[], datetime]
    interrupt: threading.Event | None


class MakeClient(Protocol):
    """The ``make_client`` fixture: a client for ``sim`` (its URL and the secret keys)."""

    def __call__(
        self, sim: Simulator | None = None, **options: Unpack[ClientOptions]
    ) -> DukkangoClient: ...


@pytest.fixture
def sim(simulator_factory: SimulatorFactory) -> Simulator:
    """Distinctive secrets, so a leak is unmistakable; cooldowns off unless a test wants them."""
    return simulator_factory(
        app_secret_key=APP_SECRET,
        rest_secret_key=REST_SECRET,
        static_token=STATIC_TOKEN,
        cooldown_seconds=0,
    )


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    clients: list[DukkangoClient] = []

    def make(sim: Simulator | None = None, **options: Unpack[ClientOptions]) -> DukkangoClient:
        if sim is not None:
            options.setdefault("base_url", sim.url)
            if "access_token" not in options:
                options.setdefault("app_secret_key", APP_SECRET)
                options.setdefault("rest_secret_key", REST_SECRET)
        options.setdefault("timeout", 2.0)
        client = DukkangoClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def logins(sim: Simulator) -> list[RecordedRequest]:
    return sim.requests("POST", "auth/login")


def api_calls(sim: Simulator) -> list[RecordedRequest]:
    return [r for r in sim.requests() if r.path != "auth/login"]


# --- authentication -----------------------------------------------------------------


def test_one_login_is_reused_across_calls(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim)
    client.restaurants()
    client.restaurant_status(HALASKARGAZI)
    client.cancel_reasons()

    (login,) = logins(sim)
    assert login.body == {"app_secret_key": APP_SECRET, "rest_secret_key": REST_SECRET}
    assert login.headers["content-type"] == "application/json"
    assert "access-token" not in login.headers
    tokens = {r.headers.get("access-token") for r in api_calls(sim)}
    assert len(tokens) == 1
    token = tokens.pop()
    assert token is not None and re.fullmatch(r"[0-9a-f]{64}", token)
    assert all("authorization" not in r.headers for r in sim.requests())


def test_shared_fixtures(simulator: Simulator, api_client: DukkangoClient) -> None:
    order = simulator.add_order()
    assert [o["payment_key"] for o in api_client.current_orders()] == [order["payment_key"]]
    with pytest.raises(RateLimited):  # the shared simulator keeps the documented 30 s cooldown
        api_client.current_orders()


def test_expiration_date_is_read_as_istanbul_time(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim)
    client.login()
    expires = client.token_expires_at
    assert expires is not None
    # Read as UTC it would be 3 hours off; the simulator issues 24 h tokens.
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=2)


def test_token_is_renewed_one_hour_before_expiry(sim: Simulator, make_client: MakeClient) -> None:
    now = [datetime.now(UTC)]
    client = make_client(sim, clock=lambda: now[0])
    client.restaurants()
    now[0] += timedelta(hours=22, minutes=58)
    client.restaurants()
    assert len(logins(sim)) == 1

    now[0] += timedelta(minutes=3)  # 23 h 01 min: inside the last hour
    client.restaurants()
    assert len(logins(sim)) == 2
    first, second, third = (r.headers["access-token"] for r in api_calls(sim))
    assert first == second != third
    assert [r.status for r in sim.requests()] == [200] * 5  # renewed before, not after a 401


def test_short_lived_tokens_are_renewed_before_each_call(
    simulator_factory: SimulatorFactory, make_client: MakeClient
) -> None:
    sim = simulator_factory(
        app_secret_key=APP_SECRET, rest_secret_key=REST_SECRET, token_lifetime=timedelta(minutes=30)
    )
    client = make_client(sim)
    client.restaurants()
    client.restaurants()
    assert [r.path for r in sim.requests()] == ["auth/login", "restaurants/get"] * 2
    assert all(r.status == 200 for r in sim.requests())


def test_revoked_token_triggers_one_login_and_one_retry(
    sim: Simulator, make_client: MakeClient
) -> None:
    client = make_client(sim)
    client.restaurants()
    assert sim.revoke_tokens() == 2  # the login token and the static one
    assert client.restaurant_status(AKAT) == "Open"
    assert [(r.path, r.status) for r in sim.requests()] == [
        ("auth/login", 200),
        ("restaurants/get", 200),
        (f"restaurants/status/get/{AKAT}", 401),
        ("auth/login", 200),
        (f"restaurants/status/get/{AKAT}", 200),
    ]


def test_a_second_401_raises_unauthorized(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim)
    sim.inject_fault("unauthorized", count=2, path_prefix="restaurants/get")
    with pytest.raises(Unauthorized) as caught:
        client.restaurants()
    assert caught.value.status_code == 401
    assert caught.value.error == "yetkisiz erişim"
    assert caught.value.message == "Token expired or invalid"
    assert not caught.value.retryable
    assert len(logins(sim)) == 2
    assert len(sim.requests("GET", "restaurants/get")) == 2


def test_wrong_secret_keys(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim, app_secret_key="wrong-app-key")
    with pytest.raises(Unauthorized) as caught:
        client.restaurants()
    assert (caught.value.error, caught.value.message) == ("yetkisiz erişim", "Invalid credentials")
    assert caught.value.path == "auth/login"
    assert len(logins(sim)) == 1  # a failed login is not retried
    assert "wrong-app-key" not in str(caught.value)


def test_fixed_access_token_is_used_without_login(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim, access_token=STATIC_TOKEN)
    client.restaurants()
    client.close_restaurant(HALASKARGAZI)
    assert logins(sim) == []
    assert {r.headers["access-token"] for r in sim.requests()} == {STATIC_TOKEN}


def test_fixed_token_rejected_without_secret_keys(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim, access_token=STATIC_TOKEN)
    sim.revoke_tokens()
    with pytest.raises(Unauthorized):
        client.restaurants()
    assert logins(sim) == []
    assert len(sim.requests()) == 1


def test_fixed_token_with_secret_keys_logs_in_on_401(
    sim: Simulator, make_client: MakeClient
) -> None:
    client = make_client(
        sim, access_token=STATIC_TOKEN, app_secret_key=APP_SECRET, rest_secret_key=REST_SECRET
    )
    client.restaurants()
    sim.revoke_tokens()
    client.restaurants()
    client.restaurants()
    assert [(r.path, r.status) for r in sim.requests()] == [
        ("restaurants/get", 200),
        ("restaurants/get", 401),
        ("auth/login", 200),
        ("restaurants/get", 200),
        ("restaurants/get", 200),
    ]
    tokens = [r.headers["access-token"] for r in api_calls(sim)]
    assert tokens[:2] == [STATIC_TOKEN, STATIC_TOKEN]
    assert tokens[2] == tokens[3] != STATIC_TOKEN


def test_missing_credentials_are_reported_before_any_request(
    sim: Simulator, make_client: MakeClient
) -> None:
    client = make_client(base_url=sim.url)
    with pytest.raises(CredentialsMissing) as caught:
        client.restaurants()
    for name in ("DUKKANGO_ACCESS_TOKEN", "DUKKANGO_APP_SECRET_KEY", "DUKKANGO_REST_SECRET_KEY"):
        assert name in str(caught.value)

    half = make_client(base_url=sim.url, app_secret_key=APP_SECRET)
    with pytest.raises(CredentialsMissing, match=r"missing: DUKKANGO_REST_SECRET_KEY\)"):
        half.cancel_order("3e9caf87-5cb7-4c4e-adcb-fc2ec54cf24e", 1)
    assert sim.requests() == []


def test_from_env(sim: Simulator) -> None:
    environ = {
        "DUKKANGO_ACCESS_TOKEN": "",  # empty means unset
        "DUKKANGO_APP_SECRET_KEY": APP_SECRET,
        "DUKKANGO_REST_SECRET_KEY": REST_SECRET,
    }
    with DukkangoClient.from_env(base_url=sim.url, timeout=2.0, environ=environ) as client:
        assert client.restaurant_status(AKAT) == "Open"
    assert len(logins(sim)) == 1

    with DukkangoClient.from_env(
        base_url=sim.url, timeout=2.0, environ={"DUKKANGO_ACCESS_TOKEN": STATIC_TOKEN}
    ) as client:
        client.restaurants()
    assert sim.requests()[-1].headers["access-token"] == STATIC_TOKEN


def test_concurrent_callers_share_one_login_and_one_relogin(
    sim: Simulator, make_client: MakeClient
) -> None:
    client = make_client(sim)
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(lambda _: client.restaurant_status(AKAT), range(16)))
        assert len(logins(sim)) == 1
        sim.revoke_tokens()
        assert all(pool.map(lambda _: client.restaurant_status(AKAT), range(16)))
    assert len(logins(sim)) == 2


# --- endpoints ------------------------------------------------------------------------

KEY = "3e9caf87-5cb7-4c4e-adcb-fc2ec54cf24e"


# Each exercise calls one endpoint and checks its result and its effect on the simulator.


def _restaurants(c: DukkangoClient, s: Simulator) -> None:
    assert c.restaurants() == [
        {"id": HALASKARGAZI, "name": "Halaskargazi Şube"},
        {"id": AKAT, "name": "Akat Şube"},
    ]


def _restaurant_status(c: DukkangoClient, s: Simulator) -> None:
    assert c.restaurant_status(AKAT) == "Open"
    c.close_restaurant(AKAT)
    assert c.restaurant_status(AKAT) == "Closed"


def _close_restaurant(c: DukkangoClient, s: Simulator) -> None:
    c.close_restaurant(AKAT)
    assert s.restaurant_status(AKAT) == "Closed"
    assert s.restaurant_status(HALASKARGAZI) == "Open"


def _open_restaurant(c: DukkangoClient, s: Simulator) -> None:
    c.close_restaurant(AKAT)
    c.open_restaurant(AKAT)
    assert s.restaurant_status(AKAT) == "Open"


def _deactivate_food(c: DukkangoClient, s: Simulator) -> None:
    c.deactivate_food(2)
    assert (s.food_active(1), s.food_active(2)) == (True, False)


def _activate_food(c: DukkangoClient, s: Simulator) -> None:
    c.deactivate_food(2)
    c.activate_food(2)
    assert s.food_active(2)


def _foods(c: DukkangoClient, s: Simulator) -> None:
    foods = c.foods()
    assert [f["food_id"] for f in foods] == [1, 2, 3]
    assert foods[0]["restaurant_id"] == HALASKARGAZI


def _current_orders(c: DukkangoClient, s: Simulator) -> None:
    assert [o["payment_key"] for o in c.current_orders()] == [KEY]
    assert c.current_orders(status_id=2) == []


def _acknowledge_order(c: DukkangoClient, s: Simulator) -> None:
    c.acknowledge_order(KEY)
    assert c.current_orders() == []


def _accept_order(c: DukkangoClient, s: Simulator) -> None:
    c.accept_order(KEY, 25)
    order = s.order(KEY)
    assert order is not None and (order["status_id"], order["preparing_time"]) == (2, 25)


def _cancel_order(c: DukkangoClient, s: Simulator) -> None:
    c.cancel_order(KEY, 3)
    order = s.order(KEY)
    assert order is not None and (order["status_id"], order["cancel_reason_id"]) == (6, 3)


def _cancel_reasons(c: DukkangoClient, s: Simulator) -> None:
    assert c.cancel_reasons() == {
        1: "Ürün tükendi",
        2: "Adres bulunamıyor",
        3: "Yoğunluk nedeniyle",
        4: "Müşteri iptal etti",
        5: "Teknik sorun",
        6: "Çok uzak teslimat adresi",
        7: "Ödeme problemi",
        8: "Diğer",
    }


def _variables(c: DukkangoClient, s: Simulator) -> None:
    assert c.variables()["shippingMethod"][1] == {"key": "pickup", "name": "Gel Al"}


ENDPOINTS = [
    pytest.param(_restaurants, "GET", "restaurants/get", None, id="restaurants"),
    pytest.param(_restaurant_status, "GET", f"restaurants/status/get/{AKAT}", None, id="status"),
    pytest.param(_close_restaurant, "PUT", f"restaurants/status/close/{AKAT}", None, id="close"),
    pytest.param(_open_restaurant, "PUT", f"restaurants/status/open/{AKAT}", None, id="open"),
    pytest.param(_deactivate_food, "PUT", "foods/status-passive/2", None, id="deactivate_food"),
    pytest.param(_activate_food, "PUT", "foods/status-active/2", None, id="activate_food"),
    pytest.param(_foods, "GET", "foods/get-foods", None, id="foods"),
    pytest.param(_current_orders, "GET", "orders/get-current", None, id="current_orders"),
    pytest.param(_current_orders, "GET", "orders/get-current?status_id=2", None, id="status_id"),
    pytest.param(_acknowledge_order, "PUT", f"orders/success/{KEY}", None, id="acknowledge"),
    pytest.param(_accept_order, "PUT", f"orders/accept/{KEY}", {"preparing_time": 25}, id="accept"),
    pytest.param(_cancel_order, "PUT", f"orders/cancel/{KEY}", {"reason_id": 3}, id="cancel"),
    pytest.param(_cancel_reasons, "GET", "orders/cancel-reasons", None, id="cancel_reasons"),
    pytest.param(_variables, "GET", "orders/variables", None, id="variables"),
]


def _shown(request: RecordedRequest) -> str:
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    return f"{request.path}?{query}" if query else request.path


@pytest.mark.parametrize(("exercise", "method", "path", "body"), ENDPOINTS)
def test_endpoint_request_and_success(
    sim: Simulator,
    make_client: MakeClient,
    exercise: Callable[[DukkangoClient, Simulator], None],
    method: str,
    path: str,
    body: Any,
) -> None:
    sim.add_order(payment_key=KEY)
    exercise(make_client(sim), sim)

    assert len(logins(sim)) == 1
    matching = [r for r in api_calls(sim) if (r.method, _shown(r)) == (method, path)]
    assert matching, [(r.method, _shown(r)) for r in api_calls(sim)]
    request = matching[0]
    assert request.body == body
    assert request.status == 200
    assert re.fullmatch(r"[0-9a-f]{64}", request.headers["access-token"])
    if body is None:
        assert "content-type" not in request.headers
    else:
        assert request.headers["content-type"] == "application/json"


def test_base_url_trailing_slash_is_optional(sim: Simulator, make_client: MakeClient) -> None:
    make_client(sim, base_url=sim.url + "/").restaurants()
    make_client(sim, base_url=sim.url).restaurants()
    assert [r.path for r in api_calls(sim)] == ["restaurants/get", "restaurants/get"]


def test_ids_cannot_escape_their_path_segment(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim)
    before = len(api_calls(sim))
    for hostile in ("x/../../restaurants/status/close/" + AKAT, "..", ".", "a?b", "a#b", "a b"):
        with pytest.raises(InvalidId, match="not sent"):
            client.cancel_order(hostile, 4)
    with pytest.raises(InvalidId):
        client.acknowledge_order("..")
    assert sim.restaurant_status(AKAT) == "Open"
    assert len(api_calls(sim)) == before  # nothing left the client


# --- errors ---------------------------------------------------------------------------


def _fault(**fault: Any) -> Callable[[Simulator, DukkangoClient], None]:
    def provoke(sim: Simulator, client: DukkangoClient) -> None:
        sim.inject_fault(path_prefix="orders/cancel", **fault)
        client.cancel_order(KEY, 1)

    return provoke


ENVELOPES = [
    pytest.param(
        _fault(kind="status", status=400, error="eksik alan", message="reason_id is required"),
        MissingField, 400, "eksik alan", "reason_id is required", id="400-eksik-alan",
    ),
    pytest.param(
        lambda s, c: (c.cancel_order(KEY, 1), c.cancel_order(KEY, 1)),
        BadRequest, 400, "geçersiz durum", "Order is already canceled", id="400-undocumented",
    ),
    pytest.param(
        _fault(kind="unauthorized", count=2),
        Unauthorized, 401, "yetkisiz erişim", "Token expired or invalid", id="401",
    ),
    pytest.param(
        lambda s, c: c.deactivate_food(999),
        Forbidden, 403, "URL hatalı", "Unknown food 999", id="403-url-hatali",
    ),
    pytest.param(
        lambda s, c: c.cancel_order("no-such-order", 1),
        NotFound, 404, "sipariş bulunamadı", None, id="404-siparis",
    ),
    pytest.param(
        lambda s, c: c.close_restaurant("no-such-restaurant"),
        NotFound, 404, "restoran bulunamadı", None, id="404-restoran",
    ),
    pytest.param(
        lambda s, c: (c.current_orders(), c.current_orders()),
        RateLimited, 429, "çok fazla istek", "Çok fazla istek. Lütfen 30 saniye bekleyin.",
        id="429-cooldown",
    ),
    pytest.param(
        _fault(kind="status", status=500),
        ServerError, 500, "sunucu hatası", "Internal Server Error", id="500",
    ),
    pytest.param(
        _fault(kind="status", status=503, error="bakım", message="Planned maintenance"),
        ServerError, 503, "bakım", "Planned maintenance", id="503",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("provoke", "cls", "status", "error", "message"), ENVELOPES)
def test_error_envelopes_map_to_exceptions(
    simulator_factory: SimulatorFactory,
    make_client: MakeClient,
    provoke: Callable[[Simulator, DukkangoClient], Any],
    cls: type[ApiError],
    status: int,
    error: str,
    message: str | None,
) -> None:
    sim = simulator_factory(
        app_secret_key=APP_SECRET, rest_secret_key=REST_SECRET, cooldown_seconds=30
    )
    sim.add_order(payment_key=KEY)
    client = make_client(sim)
    with pytest.raises(ApiError) as caught:
        provoke(sim, client)
    exc = caught.value
    assert type(exc) is cls
    assert (exc.status_code, exc.error, exc.message) == (status, error, message)
    assert exc.retryable is (cls in (RateLimited, ServerError))
    assert error in str(exc) and exc.path in str(exc) and exc.method in str(exc)


def test_exception_text_reads_well(sim: Simulator, make_client: MakeClient) -> None:
    with pytest.raises(NotFound) as caught:
        make_client(sim).cancel_order(KEY, 3)
    assert str(caught.value) == f"PUT orders/cancel/{KEY}: 404 sipariş bulunamadı (order not found)"


UNEXPECTED = [
    pytest.param(200, "<html><body>Maintenance</body></html>", "text/html", UnexpectedResponse,
                 "non-JSON body (text/html", id="html"),
    pytest.param(200, "", "text/plain", UnexpectedResponse, "empty body", id="empty"),
    pytest.param(200, "OK", "application/json", UnexpectedResponse, "non-JSON body", id="not-json"),
    pytest.param(200, '{"status": true}', "application/json", UnexpectedResponse,
                 '"status": true without "data"', id="status-true-no-data"),
    pytest.param(200, '{"data": "OK"}', "application/json", UnexpectedResponse,
                 'JSON body without "status"', id="no-status"),
    pytest.param(200, '{"status": false, "error": "hata"}', "application/json",
                 UnexpectedResponse, '"status": False on HTTP 200', id="2xx-status-false"),
    pytest.param(200, "[1, 2]", "application/json", UnexpectedResponse,
                 'JSON body without "status" (list)', id="json-list"),
    pytest.param(404, "<h1>Not Found</h1>", "text/html", UnexpectedResponse,
                 "non-JSON body", id="404-html-wrong-url"),
    pytest.param(409, '{"status": false, "error": "çakışma"}', "application/json",
                 UnexpectedResponse, None, id="other-4xx"),
    pytest.param(302, "", "text/html", UnexpectedResponse, "empty body", id="redirect"),
    pytest.param(502, "<html>Bad Gateway</html>", "text/html", ServerError,
                 "non-JSON body", id="502-html-is-still-retryable"),
    pytest.param(429, "Too Many Requests", "text/plain", RateLimited,
                 "non-JSON body", id="429-plain"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "content_type", "cls", "detail"), UNEXPECTED)
def test_unexpected_bodies(
    sim: Simulator,
    make_client: MakeClient,
    status: int,
    body: str,
    content_type: str,
    cls: type[ApiError],
    detail: str | None,
) -> None:
    sim.add_order(payment_key=KEY)
    client = make_client(sim)
    sim.inject_fault("body", status=status, body=body, content_type=content_type,
                     path_prefix="orders/cancel")  # fmt: skip
    with pytest.raises(ApiError) as caught:
        client.cancel_order(KEY, 1)
    assert type(caught.value) is cls
    assert caught.value.status_code == status
    if detail is not None:
        assert detail in str(caught.value)
    order = sim.order(KEY)
    assert order is not None and order["status_id"] == 1


@pytest.mark.parametrize(
    ("call", "body"),
    [
        pytest.param(lambda c: c.restaurant_status(AKAT), '{"status": true, "data": 1}', id="str"),
        pytest.param(lambda c: c.restaurants(), '{"status": true, "data": {"a": 1}}', id="list"),
        pytest.param(lambda c: c.current_orders(), '{"status": true, "data": [1]}', id="objects"),
        pytest.param(
            lambda c: c.cancel_reasons(), '{"status": true, "data": [{"id": "1"}]}', id="reasons"
        ),
    ],
)
def test_data_of_the_wrong_shape(
    sim: Simulator, make_client: MakeClient, call: Callable[[DukkangoClient], Any], body: str
) -> None:
    client = make_client(sim, access_token=STATIC_TOKEN)
    sim.inject_fault("body", status=200, body=body, content_type="application/json")
    with pytest.raises(UnexpectedResponse):
        call(client)


def test_redirects_are_not_followed(
    sim: Simulator, simulator_factory: SimulatorFactory, make_client: MakeClient
) -> None:
    elsewhere = simulator_factory()
    client = make_client(sim, access_token=STATIC_TOKEN)
    target = f"{elsewhere.url}/restaurants/get"
    sim.inject_fault("body", status=307, headers={"Location": target})
    with pytest.raises(UnexpectedResponse, match="307"):
        client.restaurants()
    assert elsewhere.requests() == []  # the Access-Token never travelled to another host


def test_base_url_outside_the_api_is_unexpected(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim, base_url=sim.url.replace("/api/integrations", "/api"))
    with pytest.raises(UnexpectedResponse, match="404"):
        client.restaurants()


def test_hang_raises_timeout_within_the_timeout(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim, timeout=0.3, access_token=STATIC_TOKEN)
    sim.inject_fault("hang", seconds=5, path_prefix="restaurants/get")
    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        client.restaurants()
    assert time.monotonic() - started < 3
    assert isinstance(caught.value, TransportError) and caught.value.retryable
    assert caught.value.path == "restaurants/get"


def test_an_answer_that_arrives_after_shutdown_was_requested_is_kept(
    sim: Simulator, make_client: MakeClient
) -> None:
    """Shutdown lets a call in flight finish: its answer is recorded, not lost."""
    stop = threading.Event()
    client = make_client(sim, access_token=STATIC_TOKEN, interrupt=stop)
    sim.add_order(payment_key="k")
    sim.inject_fault("hang", seconds=1, path_prefix="orders/cancel/")
    # SIGTERM while the server holds the call.
    stopper = _set_when(stop, sim.in_flight, what="the cancel request held")

    client.cancel_order("k", 7)

    stopper.join()
    assert sim.order("k")["status_id"] == 6  # type: ignore[index]


def test_shutdown_abandons_an_answer_still_trickling_in(
    sim: Simulator, make_client: MakeClient
) -> None:
    stop = threading.Event()
    client = make_client(sim, timeout=30, access_token=STATIC_TOKEN, interrupt=stop)
    sim.inject_fault("trickle", seconds=0.2, path_prefix="restaurants/get")
    # The simulator records a request once answered, before its body trickles out.
    stopper = _set_when(stop, lambda: sim.requests("GET", "restaurants/get"), what="the trickle")
    started = time.monotonic()

    with pytest.raises(Timeout, match="interrupted by shutdown"):
        client.restaurants()

    stopper.join()
    assert time.monotonic() - started < 5  # the whole body would take half a minute


def _set_when(
    event: threading.Event, condition: Callable[[], object], what: str
) -> threading.Thread:
    """Set ``event`` from another thread as soon as ``condition()`` holds."""

    def wait_then_set() -> None:
        eventually(condition, what=what)
        event.set()

    thread = threading.Thread(target=wait_then_set)
    thread.start()
    return thread


def test_dropped_connection_is_a_transport_error(sim: Simulator, make_client: MakeClient) -> None:
    client = make_client(sim, access_token=STATIC_TOKEN)
    sim.inject_fault("drop", path_prefix="restaurants/get")
    with pytest.raises(TransportError) as caught:
        client.restaurants()
    assert type(caught.value) is TransportError and caught.value.retryable


def test_connection_refused_is_a_transport_error(make_client: MakeClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/api/integrations", access_token="x")
    with pytest.raises(TransportError) as caught:
        client.restaurants()
    assert type(caught.value) is TransportError
    assert "ConnectError" in str(caught.value)


def test_https_certificates_are_verified(tmp_path: Path, make_client: MakeClient) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    served: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            self.send_response(200)
            self.end_headers()

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = make_client(
            base_url=f"https://127.0.0.1:{server.server_address[1]}/api/integrations",
            access_token=STATIC_TOKEN,
        )
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            client.restaurants()
    finally:
        server.shutdown()
        server.server_close()
    assert served == []


def test_an_http_base_url_gets_a_context_that_trusts_no_certificate() -> None:
    """http:// (a local simulator) never uses TLS: the CA bundle (~50 ms) is not loaded,
    and the context it gets instead verifies everything against no authority at all."""
    from daemon.dukkango import client as module

    plain = module._tls_context_for("http://127.0.0.1:8080/api/integrations/")
    assert (plain.verify_mode, plain.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert module._tls_context_for("https://example.com/api/") is module._tls_context()
    assert module._tls_context().verify_mode == ssl.CERT_REQUIRED
    assert module._tls_context().cert_store_stats()["x509_ca"] > 0  # the CA bundle


def test_retryable_flags() -> None:
    assert TransportError("GET", "x", "boom").retryable
    assert Timeout("GET", "x", "slow").retryable
    assert not CredentialsMissing("none").retryable
    assert not DukkangoError().retryable
    for permanent in (
        MissingField,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        UnexpectedResponse,
    ):
        assert not permanent(status_code=400, method="PUT", path="p").retryable
    for transient in (RateLimited, ServerError):
        assert transient(status_code=429, method="PUT", path="p").retryable


# --- secrets ---------------------------------------------------------------------------


def test_no_secret_or_token_leaks(
    sim: Simulator, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    sim.add_order(payment_key=KEY)
    client = make_client(sim, access_token=STATIC_TOKEN, app_secret_key=APP_SECRET,
                         rest_secret_key=REST_SECRET)  # fmt: skip
    errors: list[BaseException] = []

    def attempt(action: Callable[[], Any]) -> None:
        try:
            action()
        except DukkangoError as exc:
            errors.append(exc)

    attempt(client.restaurants)
    sim.revoke_tokens()  # 401 -> login with the secret keys
    attempt(lambda: client.cancel_order(KEY, 1))
    attempt(lambda: client.cancel_order(KEY, 1))  # 400
    issued = {r.headers["access-token"] for r in api_calls(sim)} - {STATIC_TOKEN}
    (token,) = issued
    sim.inject_fault("status", status=500, message=f"token {token} rejected")
    attempt(client.restaurants)  # a server echoing the token back
    sim.inject_fault("body", status=200, body='{"status": true, "data": {"x": "' + token + '"}}',
                     content_type="application/json")  # fmt: skip
    attempt(client.restaurants)
    sim.revoke_tokens()
    sim.inject_fault("status", count=5, status=502, path_prefix="auth/login")
    attempt(client.restaurants)  # the re-login fails
    bad = make_client(sim, app_secret_key=APP_SECRET, rest_secret_key="x" + REST_SECRET)
    attempt(bad.restaurants)
    attempt(make_client(sim, timeout=0.2, access_token=STATIC_TOKEN).restaurants)
    assert len(errors) == 6

    secrets = {APP_SECRET, REST_SECRET, "x" + REST_SECRET, STATIC_TOKEN, token}
    visible = [caplog.text, repr(client), repr(bad), str(client)]
    visible += [text for exc in errors for text in (str(exc), repr(exc), str(exc.args))]
    assert "PUT orders/cancel" in caplog.text  # the DEBUG line per request is there
    for secret in secrets:
        for text in visible:
            assert secret not in text
    assert "***" in str(errors[1])
    assert repr(client) == (
        f"DukkangoClient(base_url='{sim.url}/', timeout=2.0, auth='access token + secret keys')"
    )
