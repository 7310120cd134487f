"""judge/contract/problem.py: the problem a client sends, validated strictly, with errors in
Judge0's 422 shape by dotted attribute path, and the limits held to a submission's bounds."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from judge.config import Config
from judge.contract.problem import parse_problem
from judge.problems.draft import inline

CASE = {"stdin": "1 2\n", "expected_output": "3\n"}


def problem(**fields):
    return {"slug": "sum", "title": "Sum", "test_cases": [CASE], **fields}


def errors(body, config=None, base64_encoded=False, **kwargs):
    draft, found = parse_problem(body, base64_encoded, config or Config.load(environ={}),
                                 **kwargs)
    assert draft is None
    return found


def parsed(body, config=None, base64_encoded=False, **kwargs):
    draft, found = parse_problem(body, base64_encoded, config or Config.load(environ={}),
                                 **kwargs)
    assert found == {}
    return draft


def test_the_least_a_problem_needs_and_its_defaults():
    draft = parsed(problem())
    assert (draft.slug, draft.title, draft.limits, draft.interactor) == ("sum", "Sum", {}, None)
    assert draft.checker == {"type": "judge0"} and dict(draft.files) == {}
    case, = draft.cases
    assert (case.hidden, case.points) == (False, Decimal(1))
    assert (case.input.digest, case.input.size) == (inline(b"1 2\n").digest, 4)
    assert case.output.size == 2 and draft.total_bytes == 6


@pytest.mark.parametrize("slug", ["a", "0", "two-sum", "x" * 64, "9-lives"])
def test_good_slugs(slug):
    assert parsed(problem(slug=slug)).slug == slug


@pytest.mark.parametrize("slug", ["", "-a", "A", "two_sum", "x" * 65, "sum\n", "é", 5, None])
def test_bad_slugs(slug):
    assert list(errors(problem(slug=slug))) == ["slug"]


def test_missing_and_unknown_attributes():
    found = errors({"slug": "s", "testcases": []})
    assert found == {"title": ["Missing data for required field."],
                     "testcases": ["Unknown field."]}
    assert errors([problem()]) == {"problem": ["must be a JSON object"]}


def test_limits_have_a_submissions_names_and_the_configured_bounds():
    draft = parsed(problem(limits={"cpu_time_limit": 2.5, "memory_limit": 262144,
                                   "enable_per_process_and_thread_time_limit": True}))
    assert draft.limits == {"cpu_time_limit": 2.5, "memory_limit": 262144,
                            "enable_per_process_and_thread_time_limit": True}
    tight = Config.load(environ={"MAX_CPU_TIME_LIMIT": "3",
                                 "ALLOW_ENABLE_PER_PROCESS_AND_THREAD_MEMORY_LIMIT": "false"})
    found = errors(problem(limits={
        "cpu_time_limit": 4, "wall_time_limit": 0.5, "memory_limit": 1.5, "stack_limit": True,
        "enable_per_process_and_thread_memory_limit": True, "number_of_runs": 3}), tight)
    assert found == {
        "limits.memory_limit": ["Not a valid integer."],
        "limits.stack_limit": ["Not a valid integer."],
        "limits.number_of_runs": ["Unknown field."],
        "limits.cpu_time_limit": ["must be less than or equal to 3.0"],
        "limits.wall_time_limit": ["must be greater than or equal to 1"],
        "limits.enable_per_process_and_thread_memory_limit": ["this option cannot be enabled"],
    }


@pytest.mark.parametrize("kind", ["exact", "judge0", "tokens", "lines-unordered"])
def test_the_builtin_checkers(kind):
    assert parsed(problem(checker={"type": kind})).checker == {"type": kind}
    assert errors(problem(checker={"type": kind, "absolute": 1})) == {
        "checker.absolute": [f"is not an option of the {kind} checker"]}


def test_the_float_checker_and_its_epsilons():
    assert parsed(problem(checker={"type": "float"})).checker == {
        "type": "float", "absolute": 1e-6, "relative": 1e-6}
    assert parsed(problem(checker={"type": "float", "absolute": 0.01, "relative": 0})
                  ).checker == {"type": "float", "absolute": 0.01, "relative": 0}
    assert errors(problem(checker={"type": "float", "absolute": -1e-9,
                                   "relative": float("nan")})) == {
        "checker.absolute": ["Must be greater than or equal to 0."],
        "checker.relative": ["Special numeric values (nan or infinity) are not permitted."]}
    assert "checker.type" in errors(problem(checker={"type": "regex"}))


def test_a_custom_checker_and_an_interactor_are_stored_in_base64():
    source = "int main() { return 0; }"
    draft = parsed(problem(checker={"type": "custom", "source_code": source, "language_id": 54},
                           interactor={"source_code": source, "language_id": 54}))
    stored = base64.b64encode(source.encode()).decode()
    assert draft.checker == {"type": "custom", "source_code": stored, "language_id": 54}
    assert draft.interactor == {"source_code": stored, "language_id": 54}
    assert errors(problem(checker={"type": "custom"},
                          interactor={"source_code": "  \n", "language_id": "54"})) == {
        "checker.source_code": ["Missing data for required field."],
        "checker.language_id": ["Missing data for required field."],
        "interactor.source_code": ["can't be blank"],
        "interactor.language_id": ["Not a valid integer."]}


def test_files_are_base64_with_safe_names():
    draft = parsed(problem(files={"testlib.h": base64.b64encode(b"// lib").decode(),
                                  "my_header-2.hpp": "aGk=\n"}))
    with draft.files["testlib.h"].open() as f:
        assert f.read() == b"// lib"
    assert draft.total_bytes == 6 + 6 + 2
    found = errors(problem(files={"../x.h": "", ".hidden": "", "a/b": "", "ok.h": "not base64!"}))
    assert set(found) == {"files.../x.h", "files..hidden", "files.a/b", "files.ok.h"}
    assert found["files.ok.h"] == ["is not valid base64 (Only base64 data is allowed)"]


def test_test_cases_in_plain_text_or_base64():
    draft = parsed(problem(test_cases=[{"stdin": "aGk=", "expected_output": "",
                                        "hidden": True, "points": 2.5}]), base64_encoded=True)
    case, = draft.cases
    assert (case.input.size, case.output.size, case.hidden, case.points) == (
        2, 0, True, Decimal("2.5"))
    found = errors(problem(test_cases=[CASE, {"stdin": "\ud800", "hidden": 1, "points": -1},
                                       "not a case"]))
    assert found == {
        "test_cases.2.stdin": ["is not valid UTF-8 text (an unpaired surrogate); send it in "
                               "base64 with base64_encoded=true"],
        "test_cases.2.hidden": ["Not a valid boolean."],
        "test_cases.2.points": ["Must be greater than or equal to 0 and less than or equal "
                                "to 1000000000."],
        "test_cases.3": ["Invalid input type."]}
    assert "test_cases.1.stdin" in errors(problem(test_cases=[{"stdin": "%%%"}]),
                                          base64_encoded=True)


def test_cases_inline_or_from_a_zip_and_which_zip_cases_are_visible():
    zipped = [(inline(b"1"), inline(b"1")), (inline(b"2"), inline(b"4"))]
    body = {"slug": "sq", "title": "Squares", "visible_cases": [1]}
    draft = parsed(body, zip_tests=zipped)
    assert [(c.hidden, c.points) for c in draft.cases] == [(False, 1), (True, 1)]
    assert errors({**body, "visible_cases": [3]}, zip_tests=zipped) == {
        "visible_cases": ["the zip has 2 cases, there is no case 3"]}
    assert "not both" in errors(problem(), zip_tests=zipped)["test_cases"][0]
    assert "needs test cases" in errors({"slug": "a", "title": "A"})["test_cases"][0]
    assert "is for the cases of a zip" in errors(problem(visible_cases=[1]))["visible_cases"][0]
    assert "Length must be between 1" in errors(problem(test_cases=[]))["test_cases"][0]


def test_the_size_limit_counts_test_data_and_files():
    config = Config.load(environ={"PROBLEM_MAX_SIZE": "1"})  # KB
    assert parsed(problem(test_cases=[{"stdin": "x" * 1000, "expected_output": "y" * 24}]),
                  config).total_bytes == 1024
    found = errors(problem(test_cases=[{"stdin": "x" * 1000, "expected_output": "y" * 24}],
                           files={"f": "eA=="}), config)
    assert found == {"test_cases": ["the test data and files are 1025 bytes, more than the "
                                    "1024 a problem may hold (PROBLEM_MAX_SIZE=1 KB)"]}


def test_a_put_names_its_slug_in_the_path_and_the_tokens_are_not_attributes():
    assert parsed({"title": "T", "test_cases": [CASE]}, slug="sum").slug == "sum"
    assert errors(problem(slug="other"), slug="sum") == {
        "slug": ["is 'sum' in the path; a problem cannot be renamed"]}
    assert parsed(problem(**{"X-Auth-User": "token"}), ignored=("X-Auth-User",)).slug == "sum"


def test_titles_are_storable_text():
    assert errors(problem(title="a\x00b")) == {"title": ["must not contain NUL characters"]}
    assert list(errors(problem(title="\udc80"))) == ["title"]
    assert list(errors(problem(title="x" * 257))) == ["title"]
