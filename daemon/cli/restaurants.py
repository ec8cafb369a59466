"""Which restaurant an operator means: an id or a name from rules.yaml ``restaurants``.

Matching is exact on the id, and on the name without regard to case or the
spaces around it (``akat şube`` is Akat Şube). Whatever was typed is shown
back escaped, so a hostile argument cannot write to the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.config.models import Config, Restaurant

# Longer than any id or name a person types: shown cut, never in full.
_SHOWN_MAX = 80


class UnknownRestaurant(Exception):
    """The argument names no restaurant of rules.yaml (or several): the message says which."""


def shown(text: str) -> str:
    """``text`` as it is safe to print: quoted, controls escaped, cut when very long."""
    cut = text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "…"
    quoted = repr(cut)
    return quoted if cut.isprintable() else quoted.encode("ascii", "backslashreplace").decode()


def _listing(restaurants: Sequence[Restaurant]) -> str:
    return ", ".join(f"{r.name} ({r.id})" if r.name else r.id for r in restaurants)


def find_restaurant(config: Config, given: str) -> Restaurant:
    """The restaurant ``given`` names; raises :class:`UnknownRestaurant` otherwise."""
    wanted = given.strip()
    by_id = config.restaurant(wanted)
    if by_id is not None:
        return by_id
    named = [
        r for r in config.restaurants if r.name and r.name.strip().casefold() == wanted.casefold()
    ]
    if len(named) == 1:
        return named[0]
    if named:
        raise UnknownRestaurant(
            f"{shown(given)} names {len(named)} restaurants in {config.source} "
            f"({', '.join(r.id for r in named)}): give the id"
        )
    raise UnknownRestaurant(
        f"no restaurant {shown(given)} in {config.source}; give the id or name of one of: "
        f"{_listing(config.restaurants)}"
    )


def person_problem(flag: str, name: str) -> str | None:
    """Why ``name`` cannot be recorded as who did something, or None."""
    if not name.strip():
        return f"{flag} needs the name of who does it"
    if not name.isprintable():
        return f"{flag} {shown(name)} holds control characters; give a plain name"
    if len(name) > 100:
        return f"{flag} is {len(name)} characters long; give a name of at most 100"
    return None
