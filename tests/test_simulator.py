"""The local Dükkango stand-in, spoken to over real HTTP (raw httpx, not the client)."""

from __future__ import annotations

import concurrent.futures
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from daemon.simulator.defaults import (
    AKAT,
    DEFAULT_APP_SECRET_KEY,
    DEFAULT_REST_SECRET_KEY,
    DEFAULT_STATIC_TOKEN,
    HALASKARGAZI,
)
from daemon.simulator.server import Simulator
from tests.conftest import SimulatorFactory, autocancel_executable
from tests.test_daemon import eventually

TOKEN = DEFAULT_STATIC_TOKEN
TOO_MANY = {
    "status": False,
    "error": "çok fazla istek",
    "message": "Çok fazla istek. Lütfen 30 saniye bekleyin.",
}
EXPIRED = {"status": False, "error": "yetkisiz erişim", "message": "Token expired or invalid"}
OK = {"status": True, "data": "OK"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One client for the module: building its TLS context costs ~50 ms per test.
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def sim(simulator_factory: SimulatorFactory) -> Simulator:
    return simulator_factory(cooldown_seconds=0)


def call(
    http: httpx.Client,
    sim: Simulator,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> httpx.Response:
    headers = dict(headers or {})
    if token is not None:
        headers["Access-Token"] = token
    return http.request(method, f"{sim.url}/{path}", json=body, headers=headers, **options)


def control(http: httpx.Client, sim: Simulator, method: str, path: str, body: Any = None) -> Any:
    response = http.request(method, f"{sim.control_url}/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def status_of(sim: Simulator, key: str) -> int:
    """The order's status in the simulator; fails the test when it holds no such order."""
    order = sim.order(key)
    assert order is not None, f"{key}: no such order"
    return int(order["status_id"])


def current_keys(http: httpx.Client, sim: Simulator, query: str = "") -> list[tuple[str, int]]:
    response = call(http, sim, "GET", "orders/get-current" + query)
    assert response.status_code == 200, response.text
    return [(o["payment_key"], o["status_id"]) for o in response.json()["data"]]


# --- authentication -------------------------------------------------------------------


def test_login_issues_24h_tokens_in_istanbul_time(sim: Simulator, http: httpx.Client) -> None:
    keys = {"app_secret_key": DEFAULT_APP_SECRET_KEY, "rest_secret_key": DEFAULT_REST_SECRET_KEY}
    first = call(http, sim, "POST", "auth/login", keys, token=None).json()
    second = call(http, sim, "POST", "auth/login", keys, token=None).json()
    assert first["status"] is True
    token, expiration = first["data"]["access_token"], first["data"]["expiration_date"]
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert token != second["data"]["access_token"]
    expires = datetime.strptime(expiration, "%Y-%m-%d %H:%M:%S")
    expires = expires.replace(tzinfo=ZoneInfo("Europe/Istanbul"))
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=1)
    for issued in (token, second["data"]["access_token"]):  # a new login keeps old tokens
        assert call(http, sim, "GET", "restaurants/get", token=issued).status_code == 200


def test_login_errors(sim: Simulator, http: httpx.Client) -> None:
    wrong = {"app_secret_key": DEFAULT_APP_SECRET_KEY, "rest_secret_key": "nope"}
    response = call(http, sim, "POST", "auth/login", wrong, token=None)
    assert response.status_code == 401
    assert response.json() == {
        "status": False,
        "error": "yetkisiz erişim",
        "message": "Invalid credentials",
    }
    missing = call(http, sim, "POST", "auth/login", {"app_secret_key": "x"}, token=None)
    assert (missing.status_code, missing.json()["error"]) == (400, "eksik alan")
    assert missing.json()["message"] == "rest_secret_key is required"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Access-Token": "f" * 64}, id="unknown"),
        pytest.param({"Authorization": f"Bearer {TOKEN}"}, id="bearer-is-not-the-header"),
    ],
)
def test_calls_need_a_valid_access_token(
    sim: Simulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    response = http.get(f"{sim.url}/restaurants/get", headers=headers)
    assert (response.status_code, response.json()) == (401, EXPIRED)


def test_tokens_expire(simulator_factory: SimulatorFactory, http: httpx.Client) -> None:
    sim = simulator_factory(token_lifetime=timedelta(seconds=0.3))
    keys = {"app_secret_key": DEFAULT_APP_SECRET_KEY, "rest_secret_key": DEFAULT_REST_SECRET_KEY}
    before_login = time.monotonic()
    token = call(http, sim, "POST", "auth/login", keys, token=None).json()["data"]["access_token"]
    assert call(http, sim, "GET", "restaurants/get", token=token).status_code == 200

    def refused() -> httpx.Response | None:
        response = call(http, sim, "GET", "restaurants/get", token=token)
        return response if response.status_code != 200 else None

    response = eventually(refused, within=5, what="the token expiring")
    assert response is not None
    assert time.monotonic() - before_login >= 0.3
    assert (response.status_code, response.json()) == (401, EXPIRED)


def test_revoked_tokens_are_rejected_until_reset(sim: Simulator, http: httpx.Client) -> None:
    assert call(http, sim, "GET", "restaurants/get").status_code == 200
    assert sim.revoke_tokens() == 1
    assert call(http, sim, "GET", "restaurants/get").json() == EXPIRED
    sim.reset()
    assert call(http, sim, "GET", "restaurants/get").status_code == 200


# --- cooldown and acknowledgement -------------------------------------------------------


def _call_until_served(http: httpx.Client, sim: Simulator, path: str) -> list[int]:
    """GET ``path`` again and again until it is answered 200; every answer's status."""
    answers: list[int] = []

    def served() -> bool:
        answers.append(call(http, sim, "GET", path).status_code)
        return answers[-1] == 200

    eventually(served, within=5, what=f"GET {path} served")
    return answers


def test_cooldown_per_token_and_endpoint(
    simulator_factory: SimulatorFactory, http: httpx.Client
) -> None:
    sim = simulator_factory(cooldown_seconds=1.0)
    keys = {"app_secret_key": DEFAULT_APP_SECRET_KEY, "rest_secret_key": DEFAULT_REST_SECRET_KEY}
    other = call(http, sim, "POST", "auth/login", keys, token=None).json()["data"]["access_token"]

    served = time.monotonic()
    assert call(http, sim, "GET", "orders/get-current").status_code == 200
    assert call(http, sim, "GET", "foods/get-foods").status_code == 200  # its own cooldown
    assert call(http, sim, "GET", "orders/get-current", token=other).status_code == 200
    assert call(http, sim, "GET", "restaurants/get").status_code == 200  # no cooldown
    for path in ("orders/get-current", "orders/get-current?status_id=1", "foods/get-foods"):
        refused = call(http, sim, "GET", path)
        assert (refused.status_code, refused.json()) == (429, TOO_MANY)
    # Called all through its cooldown, get-current is served once the second
    # since its served call is over: a refused call does not start it again.
    answers = _call_until_served(http, sim, "orders/get-current")
    assert time.monotonic() - served >= 1.0
    assert set(answers[:-1]) == {429}, answers
    # foods/get-foods was served a moment after get-current: its own second ends
    # a moment later, and then it is served too.
    assert _call_until_served(http, sim, "foods/get-foods")[-1] == 200


def test_acknowledgement_and_resurfacing(sim: Simulator, http: httpx.Client) -> None:
    a = sim.add_order(payment_key="a")["payment_key"]
    b = sim.add_order(payment_key="b", status_id=16)["payment_key"]
    sim.add_order(payment_key="done", status_id=5)

    assert current_keys(http, sim) == [(a, 1), (b, 16)]
    assert current_keys(http, sim) == [(a, 1), (b, 16)]  # unacknowledged orders repeat
    assert call(http, sim, "PUT", f"orders/success/{a}").json() == OK
    assert current_keys(http, sim) == [(b, 16)]
    assert current_keys(http, sim, "?status_id=16") == [(b, 16)]
    assert current_keys(http, sim, "?status_id=1") == []

    assert call(http, sim, "PUT", f"orders/accept/{a}", {"preparing_time": 20}).json() == OK
    response = call(http, sim, "GET", "orders/get-current?status_id=2").json()["data"]
    assert [(o["payment_key"], o["status_text"]) for o in response] == [(a, "Hazırlanıyor")]
    call(http, sim, "PUT", f"orders/success/{a}")
    assert current_keys(http, sim) == [(b, 16)]

    assert call(http, sim, "PUT", f"orders/cancel/{a}", {"reason_id": 1}).json() == OK
    assert current_keys(http, sim) == [(a, 6), (b, 16)]  # a cancellation re-surfaces once
    call(http, sim, "PUT", f"orders/success/{a}")
    sim.set_order_status(b, 5)  # completed orders leave the list, acknowledged or not
    assert current_keys(http, sim) == []

    unknown = call(http, sim, "PUT", "orders/success/nope")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"status": False, "error": "sipariş bulunamadı"},
    )


def test_get_current_returns_the_documented_order_shape(sim: Simulator, http: httpx.Client) -> None:
    sim.add_order(payment_key="k", total=1417.5, discount="157.5")
    (order,) = call(http, sim, "GET", "orders/get-current").json()["data"]
    assert {
        "id", "status_id", "status_text", "shipping_method", "payment_key", "payment_method",
        "note", "total", "date", "restaurant_id", "restaurant_name", "courier_type", "discount",
        "courier_fee", "scheduled_date", "order_tip", "customer", "address", "items",
    } <= set(order)  # fmt: skip
    assert (order["total"], order["discount"]) == (1417.5, "157.5")
    assert order["status_text"] == "Sipariş Geldi"
    assert order["restaurant_name"] == "Halaskargazi Şube"
    assert order["items"] == [{"food_id": 1, "name": "Beef Burrito", "quantity": 1, "price": 675}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", order["date"])


# --- state transitions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        pytest.param({}, "eksik alan", "reason_id is required", id="missing"),
        pytest.param({"reason_id": None}, "eksik alan", "reason_id is required", id="null"),
        pytest.param({"reason_id": 0}, "geçersiz değer", None, id="zero"),
        pytest.param({"reason_id": 9}, "geçersiz değer", None, id="nine"),
        pytest.param({"reason_id": "3"}, "geçersiz değer", None, id="string"),
        pytest.param({"reason_id": True}, "geçersiz değer", None, id="bool"),
        pytest.param({"reason_id": 2.0}, "geçersiz değer", None, id="float"),
    ],
)
def test_cancel_validates_reason_id(
    sim: Simulator, http: httpx.Client, body: Any, error: str, message: str | None
) -> None:
    sim.add_order(payment_key="k")
    response = call(http, sim, "PUT", "orders/cancel/k", body)
    assert (response.status_code, response.json()["error"]) == (400, error)
    if message is not None:
        assert response.json()["message"] == message
    assert status_of(sim, "k") == 1


def test_cancel_needs_the_json_content_type(sim: Simulator, http: httpx.Client) -> None:
    sim.add_order(payment_key="k")
    response = call(http, sim, "PUT", "orders/cancel/k", content=b'{"reason_id": 3}')
    assert response.json() == {
        "status": False,
        "error": "eksik alan",
        "message": "reason_id is required",
    }


@pytest.mark.parametrize(
    ("status", "code", "answer"),
    [
        (1, 200, OK),
        (2, 200, OK),
        (16, 200, OK),
        (5, 400, {"status": False, "error": "geçersiz durum",
                  "message": "Order is already completed"}),
        (6, 400, {"status": False, "error": "geçersiz durum",
                  "message": "Order is already canceled"}),
    ],
)  # fmt: skip
def test_cancel_status_rules(
    sim: Simulator, http: httpx.Client, status: int, code: int, answer: Any
) -> None:
    sim.add_order(payment_key="k", status_id=status)
    response = call(http, sim, "PUT", "orders/cancel/k", {"reason_id": 2})
    assert (response.status_code, response.json()) == (code, answer)
    order = sim.order("k")
    assert order is not None
    assert order["status_id"] == (6 if code == 200 else status)
    assert order.get("cancel_reason_id") == (2 if code == 200 else None)


def test_cancel_unknown_order(sim: Simulator, http: httpx.Client) -> None:
    response = call(http, sim, "PUT", "orders/cancel/nope", {"reason_id": 2})
    assert (response.status_code, response.json()) == (
        404,
        {"status": False, "error": "sipariş bulunamadı"},
    )


def test_accept_ontheway_complete(sim: Simulator, http: httpx.Client) -> None:
    sim.add_order(payment_key="r")
    sim.add_order(payment_key="f", courier_type="fuudy")
    sim.add_order(payment_key="p", shipping_method="pickup", courier_type="come_get")

    missing = call(http, sim, "PUT", "orders/accept/r", {})
    assert (missing.status_code, missing.json()["message"]) == (400, "preparing_time is required")
    for key in "rfp":
        assert call(http, sim, "PUT", f"orders/accept/{key}", {"preparing_time": 30}).json() == OK
    again = call(http, sim, "PUT", "orders/accept/r", {"preparing_time": 30})
    assert (again.status_code, again.json()["error"]) == (400, "geçersiz durum")

    assert call(http, sim, "PUT", "orders/complete/r").status_code == 400  # not yet on the way
    assert call(http, sim, "PUT", "orders/ontheway/f").status_code == 400  # platform courier
    assert call(http, sim, "PUT", "orders/ontheway/r").json() == OK
    assert call(http, sim, "PUT", "orders/complete/r").json() == OK
    assert call(http, sim, "PUT", "orders/complete/p").json() == OK  # pickup: straight from 2
    assert [status_of(sim, k) for k in "rfp"] == [5, 2, 5]


def test_restaurants_and_foods(sim: Simulator, http: httpx.Client) -> None:
    names = [r["name"] for r in call(http, sim, "GET", "restaurants/get").json()["data"]]
    assert names == ["Halaskargazi Şube", "Akat Şube"]
    assert call(http, sim, "PUT", f"restaurants/status/close/{AKAT}").json() == OK
    assert call(http, sim, "GET", f"restaurants/status/get/{AKAT}").json()["data"] == "Closed"
    assert call(http, sim, "GET", f"restaurants/status/get/{HALASKARGAZI}").json()["data"] == "Open"
    assert call(http, sim, "PUT", f"restaurants/status/open/{AKAT}").json() == OK
    assert sim.restaurant_status(AKAT) == "Open"
    unknown = call(http, sim, "GET", "restaurants/status/get/nope")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"status": False, "error": "restoran bulunamadı"},
    )

    assert call(http, sim, "PUT", "foods/status-passive/3").json() == OK
    assert (sim.food_active(3), sim.food_active(1)) == (False, True)
    assert call(http, sim, "PUT", "foods/status-active/3").json() == OK
    assert sim.food_active(3)
    for bad in ("999", "abc"):
        response = call(http, sim, "PUT", f"foods/status-passive/{bad}")
        assert (response.status_code, response.json()["error"]) == (403, "URL hatalı")


def test_reference_data(sim: Simulator, http: httpx.Client) -> None:
    reasons = call(http, sim, "GET", "orders/cancel-reasons").json()["data"]
    assert [r["id"] for r in reasons] == list(range(1, 9))
    assert reasons[0] == {"id": 1, "reason": "Ürün tükendi"}
    variables = call(http, sim, "GET", "orders/variables").json()["data"]
    assert {m["key"] for m in variables["paymentMethod"]} == {"CASH", "CREDIT_CARD", "DEBIT_CARD"}


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/api/integrations/orders/cancel/k", 403),  # wrong method
        ("GET", "/api/integrations/no/such/endpoint", 403),
        ("PUT", "/api/integrations/orders/cancel/", 403),  # empty id
        ("GET", "/api/elsewhere", 404),
    ],
)
def test_unknown_endpoints(
    sim: Simulator, http: httpx.Client, method: str, target: str, status: int
) -> None:
    base = sim.url.removesuffix("/api/integrations")
    response = http.request(method, base + target, headers={"Access-Token": TOKEN})
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == "URL hatalı"
    else:
        assert response.headers["content-type"].startswith("text/html")


# --- request log and faults -------------------------------------------------------------


def test_request_log(sim: Simulator, http: httpx.Client) -> None:
    sim.add_order(payment_key="k")
    before = datetime.now(UTC)
    call(http, sim, "GET", "orders/get-current?status_id=1")
    call(http, sim, "PUT", "orders/cancel/k", {"reason_id": 4})
    call(http, sim, "PUT", "orders/cancel/k", content=b"not json", headers={"X-Test": "1"})
    control(http, sim, "GET", "requests")  # control calls are not recorded

    get, cancel, raw = sim.requests()
    assert (get.method, get.path, get.query, get.body, get.status) == (
        "GET", "orders/get-current", {"status_id": "1"}, None, 200,
    )  # fmt: skip
    assert (cancel.path, cancel.body, cancel.status) == ("orders/cancel/k", {"reason_id": 4}, 200)
    assert cancel.headers["access-token"] == TOKEN
    assert cancel.headers["content-type"] == "application/json"
    assert (raw.body, raw.status, raw.headers["x-test"]) == ("not json", 400, "1")
    assert before <= get.timestamp <= cancel.timestamp <= datetime.now(UTC)
    assert sim.requests("put") == [cancel, raw]
    assert sim.requests(path_prefix="orders/get") == [get]
    assert sim.clear_requests() == 3
    assert sim.requests() == []


def test_faults_apply_to_the_next_matching_requests(sim: Simulator, http: httpx.Client) -> None:
    sim.add_order(payment_key="k")
    sim.inject_fault("status", count=2, status=503, method="PUT", path_prefix="orders/cancel")
    assert call(http, sim, "GET", "orders/get-current").status_code == 200  # no match
    for _ in range(2):
        failed = call(http, sim, "PUT", "orders/cancel/k", {"reason_id": 1})
        assert (failed.status_code, failed.json()) == (
            503,
            {"status": False, "error": "sunucu hatası", "message": "Service Unavailable"},
        )
    assert status_of(sim, "k") == 1
    assert call(http, sim, "PUT", "orders/cancel/k", {"reason_id": 1}).json() == OK
    assert sim.faults() == []


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        ({"kind": "rate_limit"}, 429, TOO_MANY),
        ({"kind": "unauthorized"}, 401, EXPIRED),
        ({"kind": "status", "status": 502, "error": "e", "message": "m"}, 502,
         {"status": False, "error": "e", "message": "m"}),
        ({"kind": "body", "body": "<html>oops</html>"}, 200, "<html>oops</html>"),
        ({"kind": "body", "status": 500, "body": "", "content_type": "text/plain"}, 500, ""),
        ({"kind": "body", "body": '{"status": true}', "content_type": "application/json"}, 200,
         {"status": True}),
    ],
)  # fmt: skip
def test_fault_kinds(
    sim: Simulator, http: httpx.Client, fault: dict[str, Any], status: int, body: Any
) -> None:
    sim.inject_fault(**fault)
    response = call(http, sim, "GET", "restaurants/get")
    assert response.status_code == status
    assert (response.json() if isinstance(body, dict) else response.text) == body
    assert call(http, sim, "GET", "restaurants/get").status_code == 200  # count=1 is used up


def test_echo_answers_normally_and_sends_the_request_headers_back(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.inject_fault("echo", count=2)
    response = call(http, sim, "GET", "restaurants/get", headers={"X-Trace": "t-1"})
    assert response.status_code == 200 and response.json()["status"] is True
    assert response.headers["access-token"] == TOKEN
    assert response.headers["x-trace"] == "t-1"
    assert response.headers["content-type"].startswith("application/json")
    geocoder = http.get(
        f"http://{sim.host}:{sim.port}/nominatim/v1/search",
        params={"q": "Olmayan Sokak", "key": "k"},
        headers={"Access-Token": "x"},
    )
    assert geocoder.json() == [] and geocoder.headers["access-token"] == "x"
    assert "access-token" not in call(http, sim, "GET", "restaurants/get").headers  # used up


def test_drop_closes_without_an_answer(sim: Simulator, http: httpx.Client) -> None:
    sim.inject_fault("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        call(http, sim, "GET", "restaurants/get")
    assert sim.requests()[-1].status == 0


def test_hang_delays_then_still_acts(sim: Simulator, http: httpx.Client) -> None:
    sim.add_order(payment_key="k")
    sim.inject_fault("hang", seconds=0.5, path_prefix="orders/cancel")
    with pytest.raises(httpx.ReadTimeout):
        call(http, sim, "PUT", "orders/cancel/k", {"reason_id": 3}, timeout=0.1)
    eventually(
        lambda: status_of(sim, "k") == 6,
        within=5,
        what="the hung cancellation acted on after the client gave up",
    )


def test_end_hangs_ends_the_hangs_waiting_now_and_not_later_ones(
    sim: Simulator, http: httpx.Client
) -> None:
    sim.add_order(payment_key="k")
    sim.inject_fault("hang", seconds=60, path_prefix="orders/cancel")
    sim.inject_fault("hang", seconds=0.5, path_prefix="restaurants/get")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        held = pool.submit(call, http, sim, "PUT", "orders/cancel/k", {"reason_id": 3})
        eventually(lambda: sim.in_flight() == 1, within=5, what="the cancel call held")
        assert status_of(sim, "k") != 6  # held: not acted on yet
        sim.end_hangs()
        assert held.result(timeout=10).status_code == 200  # handled as after its wait
    assert status_of(sim, "k") == 6
    started = time.monotonic()
    assert call(http, sim, "GET", "restaurants/get").status_code == 200
    assert time.monotonic() - started >= 0.5  # a hang begun after end_hangs waits its time


def test_invalid_faults_are_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'boom'; valid: status, hang"):
        sim.inject_fault("boom")
    with pytest.raises(ValueError, match="count"):
        sim.inject_fault("status", count=0)
    with pytest.raises(TypeError):
        sim.inject_fault("status", colour="red")


# --- control endpoints over HTTP --------------------------------------------------------


def test_control_orders(sim: Simulator, http: httpx.Client) -> None:
    one = control(http, sim, "POST", "orders", {"payment_key": "a", "total": 99})["orders"]
    many = control(http, sim, "POST", "orders", [{"payment_key": "b"}, {"status_id": 2}])["orders"]
    wrapped = control(http, sim, "POST", "orders", {"orders": [{"payment_key": "c"}]})["orders"]
    assert [o["payment_key"] for o in one + many[:1] + wrapped] == ["a", "b", "c"]
    assert one[0]["total"] == 99 and many[1]["status_id"] == 2
    listed = control(http, sim, "GET", "orders")["orders"]
    assert [o["payment_key"] for o in listed] == ["a", "b", many[1]["payment_key"], "c"]
    assert control(http, sim, "GET", "orders/a")["total"] == 99
    assert http.get(f"{sim.control_url}/orders/zzz").status_code == 404
    duplicate = http.post(f"{sim.control_url}/orders", json={"payment_key": "a"})
    assert duplicate.status_code == 400 and "payment_key" in duplicate.json()["error"]
    assert http.post(f"{sim.control_url}/orders", json=[1, 2]).status_code == 400


def test_control_faults(sim: Simulator, http: httpx.Client) -> None:
    queued = control(http, sim, "POST", "faults", {"kind": "rate_limit", "path_prefix": "foods"})
    assert [(f["kind"], f["path_prefix"], f["count"]) for f in queued["faults"]] == [
        ("rate_limit", "foods", 1)
    ]
    assert call(http, sim, "GET", "restaurants/get").status_code == 200
    assert call(http, sim, "GET", "foods/get-foods").status_code == 429
    assert control(http, sim, "GET", "faults") == {"faults": []}

    control(http, sim, "POST", "faults", {"faults": [{"kind": "drop"}, {"kind": "hang"}]})
    assert len(control(http, sim, "GET", "faults")["faults"]) == 2
    assert control(http, sim, "DELETE", "faults") == {"faults": []}
    assert call(http, sim, "GET", "restaurants/get").status_code == 200

    for bad in ({"kind": "boom"}, {"kind": "status", "colour": "red"}, {"count": 2}):
        response = http.post(f"{sim.control_url}/faults", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]


def test_control_requests_state_revoke_reset(sim: Simulator, http: httpx.Client) -> None:
    call(http, sim, "GET", "restaurants/get")
    call(http, sim, "PUT", f"restaurants/status/close/{AKAT}")
    call(http, sim, "PUT", "foods/status-passive/2")
    logged = control(http, sim, "GET", "requests")["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in logged] == [
        ("GET", "restaurants/get", 200),
        ("PUT", f"restaurants/status/close/{AKAT}", 200),
        ("PUT", "foods/status-passive/2", 200),
    ]
    assert datetime.fromisoformat(logged[0]["timestamp"]).tzinfo is not None
    assert logged[0]["headers"]["access-token"] == TOKEN
    query = {"method": "PUT", "path_prefix": "foods"}
    filtered = http.get(f"{sim.control_url}/requests", params=query)
    assert [r["path"] for r in filtered.json()["requests"]] == ["foods/status-passive/2"]

    state = control(http, sim, "GET", "state")
    assert {r["id"]: r["status"] for r in state["restaurants"]} == {
        HALASKARGAZI: "Open",
        AKAT: "Closed",
    }
    assert {f["food_id"]: f["active"] for f in state["foods"]} == {1: True, 2: False, 3: True}

    assert control(http, sim, "POST", "revoke-tokens") == {"revoked": 1}
    assert call(http, sim, "GET", "restaurants/get").status_code == 401
    assert control(http, sim, "DELETE", "requests") == {"cleared": 4}

    sim.add_order(payment_key="k")
    assert control(http, sim, "POST", "reset") == {"reset": True}
    assert sim.orders() == [] and sim.requests() == []
    assert sim.restaurant_status(AKAT) == "Open" and sim.food_active(2)
    assert call(http, sim, "GET", "restaurants/get").status_code == 200
    assert http.get(f"{sim.control_url}/nothing").status_code == 404


def test_control_geocoder_addresses_and_raw_replies(sim: Simulator, http: httpx.Client) -> None:
    added = control(
        http,
        sim,
        "POST",
        "geocoder",
        [
            {"address": "Dershane Sokak 4", "latitude": 41.052, "longitude": 28.99},
            {"address": "Bozuk Sokak 1", "body": '[{"lat": "abc", "lon": "28.99"}]'},
        ],
    )
    assert added == {"added": 2}

    def search(address: str) -> httpx.Response:
        return http.get(f"http://{sim.host}:{sim.port}/search", params={"q": address})

    found = search("Dershane  Sokak 4")
    assert found.json() == [{"lat": "41.052", "lon": "28.99", "display_name": "Dershane  Sokak 4"}]
    garbage = search("Bozuk Sokak 1")
    assert garbage.text == '[{"lat": "abc", "lon": "28.99"}]'
    assert garbage.headers["content-type"].startswith("application/json")
    assert search("Olmayan Sokak").json() == []
    for bad in ({"latitude": 1, "longitude": 2}, {"address": "x", "latitude": "north"}):
        response = http.post(f"{sim.control_url}/geocoder", json=bad)
        assert response.status_code == 400, bad


# --- autocancel simulator ---------------------------------------------------------------


def test_autocancel_simulator_command(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*autocancel_executable(), "simulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}/api/integrations"
    try:

        def answered() -> httpx.Response | None:
            try:
                return httpx.get(
                    f"{url}/restaurants/get", headers={"Access-Token": TOKEN}, timeout=2
                )
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                return None

        response = eventually(answered, within=20, what="the simulator listening")
        assert response is not None
        assert response.status_code == 200
        assert response.json()["data"][0]["id"] == HALASKARGAZI
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    first_line = out.splitlines()[0]
    assert f"DUKKANGO_BASE_URL={url}" in first_line
    assert f"DUKKANGO_APP_SECRET_KEY={DEFAULT_APP_SECRET_KEY}" in first_line
    assert f"DUKKANGO_ACCESS_TOKEN={TOKEN}" in first_line


def test_control_foods_switched_by_staff(sim: Simulator, http: httpx.Client) -> None:
    """Staff switch foods on the platform without the API: nothing is recorded as a request,
    and status-active/passive answer OK whatever state the food was in (so a call cannot
    tell who switched a food off)."""
    switched = control(http, sim, "POST", "foods", [{"food_id": 2, "active": False}])
    assert {f["food_id"]: f["active"] for f in switched["foods"]} == {1: True, 2: False, 3: True}
    assert sim.requests() == []
    assert call(http, sim, "PUT", "foods/status-passive/2").json() == OK  # passive already
    assert call(http, sim, "PUT", "foods/status-active/1").json() == OK  # active already
    control(http, sim, "POST", "foods", {"foods": [{"food_id": 2, "active": True}]})
    assert sim.food_active(2)

    assert (
        http.post(f"{sim.control_url}/foods", json={"food_id": 99, "active": False}).status_code
        == 404
    )
    for bad in ({"food_id": "2", "active": False}, {"food_id": 2, "active": "no"}, {"food_id": 2}):
        response = http.post(f"{sim.control_url}/foods", json=bad)
        assert response.status_code == 400, bad
    assert "POST /_sim/foods" in {
        f"{e['method']} {e['path']}" for e in control(http, sim, "GET", "")["endpoints"]
    }
