"""/openapi.json and /docs: the document describes exactly what the server answers (every
route and method, every submission attribute, every /config_info key), and the page is
self-contained."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from api.app import _routes
from judge.config import Config
from judge.context import ApiContext
from judge.contract.submission.fields import ATTRIBUTES, PERMITTED

from .conftest import E2E_REDIS_URL

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def spec(engine) -> dict:
    resp = engine.get("/openapi.json")
    assert resp.status_code == 200
    return resp.json()


@pytest.fixture(scope="module")
def routes(database_url) -> Iterator[dict[str, set[str]]]:
    """The app's HTTP routes and the methods each answers, from the app's own wiring (the
    WebSocket-only routes are outside OpenAPI; the document's description names them)."""
    context = ApiContext.create(Config.load(environ={"DATABASE_URL": database_url,
                                                     "REDIS_URL": E2E_REDIS_URL}))
    served = {path: {m for m in METHODS if hasattr(resource, f"on_{m}")}
              for path, resource in _routes(context).items() if path != "/docs.html"}
    yield {path: methods for path, methods in served.items() if methods}


def test_the_document_is_openapi_3_for_our_version(spec):
    assert spec["openapi"].startswith("3.0")
    assert spec["info"]["version"] == "1.14.0"


def test_every_route_and_method_is_described_and_nothing_else(spec, routes):
    described = {re.sub(r"\{[^}]+\}", "{}", path): {m for m in METHODS if m in item}
                 for path, item in spec["paths"].items()}
    served = {re.sub(r"\{[^}]+\}", "{}", path): methods for path, methods in routes.items()}
    assert described == served


def test_every_operation_documents_its_responses_and_access_errors(spec):
    public = {"/", "/docs", "/openapi.json", "/dummy-client.html"}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            assert operation["operationId"] and operation["summary"] and operation["tags"]
            codes = set(operation["responses"])
            assert codes & {"200", "201"}, (method, path)
            if path not in public:
                assert {"401", "403"} <= codes, (method, path)


def test_submission_schemas_match_the_attributes(spec):
    schemas = spec["components"]["schemas"]
    assert list(schemas["Submission"]["properties"]) == list(ATTRIBUTES)
    assert set(schemas["SubmissionInput"]["properties"]) == set(PERMITTED)


def test_config_info_schema_matches_the_keys_in_order(spec):
    keys = list(Config().config_info())
    schema = spec["components"]["schemas"]["ConfigInfo"]
    assert list(schema["properties"]) == keys
    assert schema["required"] == keys


def test_every_reference_resolves(spec):
    text = str(spec)
    for ref in set(re.findall(r"'#/([^']+)'", text)):
        node = spec
        for part in ref.split("/"):
            node = node[part]


def test_the_auth_header_names_follow_the_configuration(secured_engine):
    schemes = secured_engine.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["authToken"]["name"] == "X-Auth-Token"
    assert schemes["authUser"]["name"] == "X-Auth-User"


def test_the_docs_page_renders_every_operation_without_loading_anything(engine, spec):
    resp = engine.get("/docs")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    page = resp.text
    for item in spec["paths"].values():
        for method in METHODS:
            if method in item:
                assert f'id="{item[method]["operationId"]}"' in page
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert "<script" not in page and "<link" not in page and " src=" not in page
    assert "@import" not in page and "url(" not in page
    assert engine.get("/docs.html").text == page
