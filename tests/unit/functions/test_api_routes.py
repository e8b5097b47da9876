"""A route is declared once (functions/api/routers): the template's events, README, docs/security.md and the
dashboard's calls are generated from it or checked against it."""

from __future__ import annotations

import re

import pytest

from challenger import api_routes
from tests.support.events import ROOT


def _normal(path: str) -> str:
    """A path with its parameters unnamed: `/runs/{run_id}` and `/runs/${encodeURIComponent(id)}` agree."""
    return re.sub(r"\$\{[^}]*\}|\{[^}]*\}", "{}", path)


def _declared(**where: object) -> set[tuple[str, str]]:
    return {
        (route.method, _normal(route.path))
        for route in api_routes.routes()
        if all(getattr(route, name) == value for name, value in where.items())
    }


def _backticked_operations(text: str) -> set[tuple[str, str]]:
    return {(method, _normal(path)) for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`", text)}


def test_the_templates_api_events_are_the_routers() -> None:
    assert api_routes.main(["--check"]) == 0, "run `make routes`"


def test_a_new_route_makes_the_template_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    text = api_routes.TEMPLATE.read_text(encoding="utf-8")
    extra = api_routes.Route("GET", "/things", "ListThings", ("api-key", "console"), public=False, summary="")
    monkeypatch.setattr(api_routes, "routes", lambda: [extra])
    events = api_routes.template_with_events(text)
    assert "        ListThings:\n" in events
    assert "Path: /console/things" in events
    assert "Path: /operator/things" not in events
    assert api_routes.main(["--check"]) == 1


def test_decisions_have_no_api_key_event_and_links_no_operator_event() -> None:
    for route in api_routes.routes():
        if (route.method, route.path) in {("POST", "/runs"), ("POST", "/rollback"), ("GET", "/audit")}:
            assert route.doors == ("console", "operator"), route
        if route.path == "/approvals/{approval_id}":
            assert route.public
            assert route.doors == ("api-key",)


def test_readmes_route_table_names_only_real_routes_and_every_decision() -> None:
    # A new read route needs no README edit (the OpenAPI document lists it); a decision must be named here.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("The routes (declared once") :]
    table = table[: table.index("\n\n", table.index("| route |"))]
    listed = _backticked_operations(table)
    assert listed <= _declared()
    assert _declared(doors=("console", "operator")) <= listed


def test_security_md_names_exactly_the_decisions_the_api_key_cannot_reach() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    operator_row = next(line for line in text.splitlines() if line.startswith("| operator, dashboard |"))
    assert _backticked_operations(operator_row.split("|")[3]) == _declared(doors=("console", "operator"))
    # The key's row says "every GET except the audit log and scored batch files": true only while decisions are these
    # writes and those two GETs.
    assert {method for method, _ in _declared(doors=("console", "operator"))} == {"POST", "GET"}
    operator_gets = {path for method, path in _declared(doors=("console", "operator")) if method == "GET"}
    assert operator_gets == {"/audit", "/batch/{}/result"}  # _declared blanks path parameters
    assert {method for method, _ in _declared(public=False) - _declared(doors=("console", "operator"))} == {
        "GET",
        "POST",
    }
    assert {
        path for method, path in _declared(public=False) - _declared(doors=("console", "operator")) if method == "POST"
    } == {"/predict"}


def test_the_dashboard_calls_only_routes_that_exist() -> None:
    calls: set[tuple[str, str]] = set()
    for source in (ROOT / "frontend" / "src").glob("*.ts"):
        for method, path in re.findall(r"api\.(get|post)(?:<[^(]*>)?\(\s*[\"`](/[^\"`?]*)", source.read_text()):
            calls.add((method.upper(), _normal(path)))
    assert calls, "no API call found in frontend/src: the pattern above is out of date"
    assert calls <= _declared(public=False) - {("GET", "/openapi.json"), ("GET", "/swagger")}
