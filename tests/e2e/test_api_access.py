"""Access control (§2, §15 items 25–26), maintenance mode, CORS and unknown routes (§1),
against live engines configured for each."""

from __future__ import annotations

import uuid

import pytest
import requests

from .conftest import AUTHN, AUTHZ
from .test_submissions import PY

API_ROUTES = [
    ("GET", "/languages"), ("GET", "/languages/all"), ("GET", "/languages/71"),
    ("GET", "/statuses"), ("GET", "/config_info"), ("GET", "/about"), ("GET", "/version"),
    ("GET", "/isolate"), ("GET", "/license"), ("GET", "/system_info"),
    ("GET", "/statistics"), ("GET", "/workers"), ("POST", "/authenticate"),
    ("POST", "/submissions"), ("GET", f"/submissions/{uuid.uuid4()}"),
    ("GET", "/submissions/batch"), ("POST", "/submissions/batch"),
    ("GET", "/submissions"), ("DELETE", f"/submissions/{uuid.uuid4()}"), ("POST", "/authorize"),
]
PUBLIC_ROUTES = ["/", "/docs", "/openapi.json"]
MAINTENANCE = {"error": "Judge0 is currently in maintenance."}


def call(engine, method: str, path: str, headers: dict | None = None, **kwargs
         ) -> requests.Response:
    """A request without the engine session's default headers."""
    return requests.request(method, f"{engine.url}{path}", headers=headers or {}, timeout=30,
                            **kwargs)


# -- authentication ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", API_ROUTES)
@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "wrong"}, {"X-Auth-Token": ""}])
def test_every_api_route_is_401_with_an_empty_body_without_a_valid_token(
        secured_engine, method, path, headers):
    resp = call(secured_engine, method, path, headers)
    assert resp.status_code == 401
    assert resp.content == b""


@pytest.mark.parametrize("path", PUBLIC_ROUTES)
def test_home_docs_and_openapi_need_no_token(secured_engine, path):
    assert call(secured_engine, "GET", path).status_code == 200


@pytest.mark.parametrize("how", ["header", "lowercase header", "query", "json body", "form"])
def test_the_token_is_read_from_the_header_or_a_same_named_parameter(secured_engine, how):
    url = f"{secured_engine.url}/submissions"
    body = {"source_code": "print(1)", "language_id": PY}
    if how == "header":
        resp = requests.post(url, json=body, headers={"X-Auth-Token": "beta"})
    elif how == "lowercase header":
        resp = requests.post(url, json=body, headers={"x-auth-token": "alpha"})
    elif how == "query":
        resp = requests.post(url, json=body, params={"X-Auth-Token": "alpha"})
    elif how == "json body":
        resp = requests.post(url, json={**body, "X-Auth-Token": "alpha"})
    else:
        resp = requests.post(url, data={**body, "X-Auth-Token": "alpha"})
    assert resp.status_code == 201, resp.text


def test_authenticate_answers_200_with_an_empty_body(secured_engine, engine):
    resp = call(secured_engine, "POST", "/authenticate", AUTHN)
    assert (resp.status_code, resp.content) == (200, b"")
    resp = call(engine, "POST", "/authenticate")  # authentication off: always 200
    assert (resp.status_code, resp.content) == (200, b"")


# -- authorization ----------------------------------------------------------------------------

def test_authorize_needs_both_tokens(secured_engine):
    assert call(secured_engine, "POST", "/authorize", AUTHZ).status_code == 200
    assert call(secured_engine, "POST", "/authorize", AUTHZ).content == b""
    resp = call(secured_engine, "POST", "/authorize", AUTHN)
    assert (resp.status_code, resp.content) == (403, b"")
    resp = call(secured_engine, "POST", "/authorize", {**AUTHN, "X-Auth-User": "nope"})
    assert resp.status_code == 403
    resp = call(secured_engine, "POST", "/authorize", {"X-Auth-User": "root"})
    assert resp.status_code == 401  # authentication comes first
    resp = call(secured_engine, "POST", "/authorize", AUTHN, params={"X-Auth-User": "root"})
    assert resp.status_code == 200


@pytest.mark.parametrize("method, path", [("POST", "/authorize"), ("GET", "/submissions"),
                                          ("DELETE", f"/submissions/{uuid.uuid4()}")])
def test_without_authz_token_configured_the_protected_endpoints_are_always_403(
        engine, method, path):
    resp = call(engine, method, path, {"X-Auth-User": ""})
    assert (resp.status_code, resp.content) == (403, b"")


# -- IP filter --------------------------------------------------------------------------------

@pytest.mark.parametrize("client_ip, status", [
    (None, 200),              # the test's own 127.0.0.1 is allowed
    ("192.0.2.10", 200),      # allowed
    ("192.0.2.99", 403),      # not on the allow list
    ("198.51.100.7", 403),    # on both lists: neither, and the allow list is not empty
    ("203.0.113.9", 403),     # denied and not allowed: Judge0 answered 500 here
])
def test_allow_and_deny_lists_with_the_subtraction_rule(secured_engine, client_ip, status):
    headers = {**AUTHN, **({"X-Forwarded-For": client_ip} if client_ip else {})}
    resp = call(secured_engine, "GET", "/statuses", headers)
    assert resp.status_code == status
    if status == 403:
        assert resp.content == b""


def test_a_denied_client_gets_403_everywhere_but_home(closed_engine):
    denied = {"X-Forwarded-For": "203.0.113.9"}
    for path in ("/languages", "/statuses", "/config_info", f"/submissions/{uuid.uuid4()}"):
        resp = call(closed_engine, "GET", path, denied)
        assert (resp.status_code, resp.content) == (403, b"")
    assert call(closed_engine, "GET", "/", denied).status_code == 200
    assert call(closed_engine, "GET", "/statuses", {"X-Forwarded-For": "192.0.2.1"}
                ).status_code == 200


# -- maintenance mode -------------------------------------------------------------------------

def test_maintenance_refuses_single_create_and_delete_only(closed_engine):
    resp = call(closed_engine, "POST", "/submissions",
                json={"source_code": "print(1)", "language_id": PY})
    assert (resp.status_code, resp.json()) == (503, MAINTENANCE)
    resp = call(closed_engine, "DELETE", f"/submissions/{uuid.uuid4()}", {"X-Auth-User": "root"})
    assert (resp.status_code, resp.json()) == (503, MAINTENANCE)
    resp = call(closed_engine, "DELETE", f"/submissions/{uuid.uuid4()}")
    assert resp.status_code == 403  # authorization is checked before maintenance
    # batch create is not covered: it goes on to validate (this item is invalid on purpose)
    resp = call(closed_engine, "POST", "/submissions/batch",
                json={"submissions": [{"language_id": PY}]})
    assert resp.status_code == 422
    assert call(closed_engine, "GET", f"/submissions/{uuid.uuid4()}").status_code == 404


# -- CORS -------------------------------------------------------------------------------------

def preflight(engine, origin: str) -> requests.Response:
    return call(engine, "OPTIONS", "/submissions", {
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-auth-token"})


def test_cors_allows_every_origin_by_default(engine):
    resp = preflight(engine, "https://anywhere.example")
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Headers"] == "content-type,x-auth-token"
    resp = call(engine, "GET", "/statuses", {"Origin": "https://anywhere.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_allow_list_and_preflight_without_a_token(secured_engine):
    resp = preflight(secured_engine, "https://app.example")
    assert resp.status_code == 200  # answered before authentication
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Origin" in resp.headers["Vary"]
    resp = preflight(secured_engine, "https://other.example")
    assert resp.status_code == 200
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = call(secured_engine, "GET", "/statuses", {**AUTHN, "Origin": "https://admin.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://admin.example"
    resp = call(secured_engine, "GET", "/statuses", {"Origin": "https://admin.example"})
    assert resp.status_code == 401
    assert resp.headers["Access-Control-Allow-Origin"] == "https://admin.example"


def test_cors_deny_list(closed_engine):
    assert "Access-Control-Allow-Origin" not in preflight(closed_engine,
                                                          "https://evil.example").headers
    resp = preflight(closed_engine, "https://good.example")
    assert resp.headers["Access-Control-Allow-Origin"] == "https://good.example"


# -- unknown routes ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/health"), ("PUT", "/submissions/x"), ("GET", "/authenticate"),
    ("PATCH", "/languages"), ("OPTIONS", "/statuses"), ("DELETE", "/submissions"),
    ("POST", "/languages/71"), ("GET", "/submissions/batch/x"),
])
def test_unknown_routes_are_404_empty_or_json_as_asked(engine, secured_engine, method, path):
    resp = call(engine, method, path)
    assert (resp.status_code, resp.content) == (404, b"")
    resp = call(engine, method, path, {"Accept": "application/json"})
    assert resp.status_code == 404
    assert resp.json() == {"status": 404, "error": "Not Found"}
    assert call(secured_engine, method, path).status_code == 404  # not 401: no such route


def test_json_suffix_and_head(engine):
    resp = call(engine, "GET", "/nothing.json")
    assert resp.json() == {"status": 404, "error": "Not Found"}
    assert call(engine, "GET", "/config_info.json").json()["max_queue_size"] == 100
    resp = call(engine, "HEAD", "/statuses")
    assert (resp.status_code, resp.content) == (200, b"")
