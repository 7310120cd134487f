"""Property-based fuzzing of the live API with schemathesis, driven by the server's own
/openapi.json: valid and invalid inputs for every operation. No answer may be a 5xx, and every
answer must match the document (documented status code, content type and schema).

Two of schemathesis' checks do not apply to Judge0's contract and are left out: a
schema-valid submission can still fail Judge0's validation (422), and Judge0 reads its flags
leniently (`base64_encoded=yes` is simply not "true"), so invalid values are not refused.

The engine has its own tables (dropped afterwards), no workers (nothing generated here is run)
and a short WAIT_RESULT_TIMEOUT, so that `wait=true` cases return promptly; problems with a
program to compile are therefore not generated (filter_body). The example count per
operation is bounded to keep the suite fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from api import openapi
from judge.config import Config

from .conftest import Engine, running_engine

EXAMPLES = 50
AUTH = {"X-Auth-User": "fuzz"}  # so that the list, DELETE and the problems' writes get past
# authorization


@pytest.fixture(scope="module")
def fuzz_engine(database_url, storage) -> Iterator[Engine]:
    env = {"AUTHZ_TOKEN": "fuzz", "ENABLE_SUBMISSION_DELETE": "true",
           "MAX_QUEUE_SIZE": "1000000", "WAIT_RESULT_TIMEOUT": "0.2"}
    with running_engine(database_url, 8, env, workers=0, schema="api_fuzz") as engine:
        yield engine


def _compiles_something(value: Any) -> bool:
    """Whether a generated problem body holds a program to compile (a custom checker, an
    interactor), anywhere in it (a multipart body nests it in its `problem` part)."""
    if isinstance(value, dict):
        if value.get("type") == "custom" or value.get("interactor") is not None:
            return True
        return any(_compiles_something(inner) for inner in value.values())
    if isinstance(value, list):
        return any(_compiles_something(inner) for inner in value)
    return False


def filter_body(ctx, body) -> bool:
    """No problem with a program to compile: the compilation waits for a worker, and this
    engine has none, so the answer would be the documented 503 (test_api_problems.py tests
    both, with and without a worker)."""
    operation = ctx.operation
    return operation is None or not operation.path.startswith("/problems") or \
        not _compiles_something(body)


@pytest.fixture(scope="module")
def api_schema(fuzz_engine):
    schema = schemathesis.openapi.from_url(f"{fuzz_engine.url}/openapi.json")
    schema.hook(filter_body)
    return schema


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) for every operation of the document the server serves; negative
    cases only where there is a query or body to get wrong (any text is a valid path)."""
    cases = []
    for path, item in openapi.spec(Config())["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "delete"):
                continue
            cases.append((method, path, GenerationMode.POSITIVE))
            inputs = item.get("parameters", []) + operation.get("parameters", [])
            if operation.get("requestBody") or any(p.get("in") != "path" for p in inputs):
                cases.append((method, path, GenerationMode.NEGATIVE))
    return cases


@pytest.mark.parametrize("method, path, mode", _operations())
def test_no_input_gives_a_5xx_or_an_undocumented_answer(api_schema, method, path, mode):
    operation = api_schema[path][method.upper()]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        response = case.call(headers=AUTH, timeout=30)
        case.validate_response(response, additional_checks=[not_a_server_error],
                               excluded_checks=[negative_data_rejection,
                                                positive_data_acceptance])

    check()
