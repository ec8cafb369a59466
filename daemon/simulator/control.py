"""The control endpoints under ``/_sim/``: how tests and rehearsals steer the simulator.

They are not part of the platform and are never recorded as API requests.
``GET /_sim/`` lists them (:data:`CONTROL_ENDPOINTS`; README "Rehearsals").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from daemon.simulator.replies import Reply, json_reply
from daemon.simulator.vocabulary import CONTROL_PATH

if TYPE_CHECKING:
    from daemon.simulator.server import Simulator

# What each control endpoint does. Keyed like the routes of :func:`_routes`,
# which must match it.
CONTROL_ENDPOINTS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("GET", ""): ("/_sim/", "lists these control endpoints"),
    ("GET", "requests"): (
        "/_sim/requests",
        "the API requests received (?method=, ?path_prefix= filter), with their answers",
    ),
    ("DELETE", "requests"): ("/_sim/requests", "forget the recorded requests"),
    ("GET", "faults"): ("/_sim/faults", "the faults waiting to be applied"),
    ("POST", "faults"): (
        "/_sim/faults",
        "queue faults: {kind, count, method, path_prefix, "
        "status, seconds, after_effect, ...}, one or a list",
    ),
    ("DELETE", "faults"): ("/_sim/faults", "drop every queued fault"),
    ("GET", "orders"): ("/_sim/orders", "every order with its status"),
    ("POST", "orders"): (
        "/_sim/orders",
        "add orders (fields of the API's order object), one or a list",
    ),
    ("GET", "orders/"): ("/_sim/orders/{payment_key}", "one order"),
    ("GET", "state"): ("/_sim/state", "restaurants open or closed, foods active or passive"),
    ("POST", "restaurants"): (
        "/_sim/restaurants",
        "staff open or close restaurants by hand (not an API request): "
        '{id, status: "Open" | "Closed"}, one or a list',
    ),
    ("POST", "foods"): (
        "/_sim/foods",
        "staff switch foods on or off on the platform (no API call): "
        "{food_id, active}, one or a list",
    ),
    ("POST", "reset"): (
        "/_sim/reset",
        "back to the start: the configured (or loaded) "
        "restaurants, foods and orders; no tokens, faults or requests",
    ),
    ("POST", "revoke-tokens"): ("/_sim/revoke-tokens", "every token now answers 401"),
    ("POST", "geocoder"): (
        "/_sim/geocoder",
        "teach the geocoder addresses: {address, "
        "latitude, longitude}, {address, not_found: true} or {address, "
        "body}, one or a list",
    ),
}

# (query, JSON body, the key of "orders/{key}") -> the JSON answer
_Action = Callable[[dict[str, str], Any, str], Any]


def control_reply(sim: Simulator, method: str, target: str, raw: bytes) -> Reply:
    """The answer to a control request; 404 for an unknown one, 400 for a bad body."""
    split = urlsplit(target)
    path, query = split.path.removeprefix(CONTROL_PATH).strip("/"), dict(parse_qsl(split.query))
    key = ""
    if method == "GET" and path.startswith("orders/"):
        path, key = "orders/", unquote(path.removeprefix("orders/"))
    action = _routes(sim).get((method, path))
    if action is None:
        return json_reply(404, {"error": f"unknown control endpoint {method} {CONTROL_PATH}{path}"})
    try:
        return json_reply(200, action(query, json.loads(raw) if raw else {}, key))
    except KeyError as exc:
        return json_reply(404, {"error": f"not found: {exc}"})
    except (ValueError, TypeError) as exc:
        return json_reply(400, {"error": str(exc)})


def _routes(sim: Simulator) -> dict[tuple[str, str], _Action]:
    def post_faults(body: Any) -> dict[str, Any]:
        for spec in _many(body, "faults"):
            sim.inject_fault(**spec)
        return {"faults": sim.faults()}

    def one_order(key: str) -> dict[str, Any]:
        if (order := sim.order(key)) is None:
            raise KeyError(key)
        return order

    def logged(query: dict[str, str]) -> list[dict[str, Any]]:
        found = sim.requests(query.get("method"), query.get("path_prefix"))
        return [r.to_json() for r in found]

    def clear_faults() -> dict[str, Any]:
        sim.clear_faults()
        return {"faults": []}

    def reset() -> dict[str, Any]:
        sim.reset()
        return {"reset": True}

    def post_geocoder(body: Any) -> dict[str, Any]:
        added = _many(body, "addresses")
        for spec in added:
            if "address" not in spec:
                raise ValueError("each geocoder entry needs an 'address'")
            if "body" in spec:
                sim.add_geocoder_reply(str(spec["address"]), str(spec["body"]))
            elif spec.get("not_found") is True:
                sim.add_geocoder_not_found(str(spec["address"]))
            else:
                sim.add_geocoder_address(
                    str(spec["address"]), float(spec["latitude"]), float(spec["longitude"])
                )
        return {"added": len(added)}

    def post_restaurants(body: Any) -> dict[str, Any]:
        changes = _many(body, "restaurants")
        for spec in changes:
            if "id" not in spec or "status" not in spec:
                raise ValueError("each restaurant needs an 'id' and a 'status' (Open or Closed)")
            sim.set_restaurant_status(str(spec["id"]), str(spec["status"]))
        return {"restaurants": sim.state()["restaurants"]}

    def post_foods(body: Any) -> dict[str, Any]:
        changes = _many(body, "foods")
        for spec in changes:
            food_id, active = spec.get("food_id"), spec.get("active")
            if type(food_id) is not int or type(active) is not bool:
                raise ValueError("each food needs an integer 'food_id' and a boolean 'active'")
        for spec in changes:
            sim.set_food_active(spec["food_id"], spec["active"])
        return {"foods": sim.state()["foods"]}

    def listed() -> dict[str, Any]:
        return {
            "endpoints": [
                {"method": method, "path": path, "does": does}
                for (method, _), (path, does) in CONTROL_ENDPOINTS.items()
            ]
        }

    return {
        ("GET", ""): lambda q, b, k: listed(),
        ("GET", "requests"): lambda q, b, k: {"requests": logged(q)},
        ("DELETE", "requests"): lambda q, b, k: {"cleared": sim.clear_requests()},
        ("GET", "faults"): lambda q, b, k: {"faults": sim.faults()},
        ("POST", "faults"): lambda q, b, k: post_faults(b),
        ("DELETE", "faults"): lambda q, b, k: clear_faults(),
        ("GET", "orders"): lambda q, b, k: {"orders": sim.orders()},
        ("POST", "orders"): lambda q, b, k: {
            "orders": [sim.add_order(**spec) for spec in _many(b, "orders")]
        },
        ("GET", "orders/"): lambda q, b, k: one_order(k),
        ("GET", "state"): lambda q, b, k: sim.state(),
        ("POST", "restaurants"): lambda q, b, k: post_restaurants(b),
        ("POST", "foods"): lambda q, b, k: post_foods(b),
        ("POST", "reset"): lambda q, b, k: reset(),
        ("POST", "revoke-tokens"): lambda q, b, k: {"revoked": sim.revoke_tokens()},
        ("POST", "geocoder"): lambda q, b, k: post_geocoder(b),
    }


def _many(body: Any, key: str) -> list[dict[str, Any]]:
    """A control body may be one object, a list of them, or {key: [...]}."""
    if isinstance(body, dict) and isinstance(body.get(key), list):
        body = body[key]
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(item, dict) for item in items):
        raise ValueError(f"expected an object, a list of objects or {{{key!r}: [...]}}")
    return items
