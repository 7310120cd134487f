"""/problems on a live engine (API and a worker, its own tables and Redis database 1):
creating problems inline and from a zip, versions, hidden cases, errors a client can act on,
and custom checkers compiled through the fleet at creation."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator

import pytest
import requests

from .conftest import Engine, running_engine

TOKEN = {"X-Auth-User": "root"}
ENV = {"AUTHZ_TOKEN": "root", "PROBLEM_MAX_SIZE": "2048"}  # KB
CPP = 54
SECRET = "hidden-input-do-not-leak"
ANSWER = "hidden-answer-do-not-leak"
CHECKER = r"""
#include <fstream>
int main(int argc, char **argv) {  // testlib's convention: input, output, answer
    std::ifstream output(argv[2]), answer(argv[3]);
    long long a, b;
    return (output >> a) && (answer >> b) && a == b ? 0 : 1;
}
"""


def body(slug: str = "sum", **fields) -> dict:
    return {"slug": slug, "title": "A plus B", "limits": {"cpu_time_limit": 1.5},
            "test_cases": [{"stdin": "1 2\n", "expected_output": "3\n"},
                           {"stdin": SECRET, "expected_output": ANSWER + "\n", "hidden": True,
                            "points": 2}], **fields}


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Client:
    def __init__(self, engine: Engine):
        self.engine, self.url = engine, engine.url

    def post(self, problem: dict, tests: bytes | None = None, headers=TOKEN,
             **params) -> requests.Response:
        if tests is None:
            return requests.post(f"{self.url}/problems", json=problem, headers=headers,
                                 params=params, timeout=120)
        return requests.post(f"{self.url}/problems", headers=headers, params=params,
                             timeout=120, files={
                                 "problem": (None, json.dumps(problem), "application/json"),
                                 "tests": ("tests.zip", tests, "application/zip")})

    def put(self, slug: str, problem: dict, headers=TOKEN) -> requests.Response:
        return requests.put(f"{self.url}/problems/{slug}", json=problem, headers=headers,
                            timeout=120)

    def get(self, path: str, headers=None, **params) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=headers or {}, params=params,
                            timeout=60)

    def delete(self, slug: str, headers=TOKEN) -> requests.Response:
        return requests.delete(f"{self.url}/problems/{slug}", headers=headers, timeout=60)


# -- engines without workers first: the module's engine (below) must not judge their probes --

def test_without_an_authorization_token_configured_writes_are_always_403(database_url,
                                                                        storage):
    with running_engine(database_url, 1, {}, workers=0, schema="api_problems") as engine:
        client = Client(engine)
        assert client.post(body()).status_code == 403
        assert client.put("sum", body()).status_code == 403
        assert client.delete("sum").status_code == 403
        listed = client.get("/problems")
        assert listed.status_code == 200 and listed.json()["problems"] == []


def test_a_checker_no_worker_compiles_in_time_is_a_503(database_url, storage):
    env = {**ENV, "WAIT_RESULT_TIMEOUT": "1"}
    with running_engine(database_url, 1, env, workers=0, schema="api_problems") as engine:
        client = Client(engine)
        answer = client.post(body(checker={"type": "custom", "source_code": CHECKER,
                                           "language_id": CPP}))
        assert answer.status_code == 503, answer.text
        assert "WAIT_RESULT_TIMEOUT" in answer.json()["error"]
        assert client.get("/problems/sum").status_code == 404  # nothing stored


# -- the engine with a worker --------------------------------------------------------------

@pytest.fixture(scope="module")
def client(database_url, storage) -> Iterator[Client]:
    with running_engine(database_url, 1, ENV, workers=1, schema="api_problems") as engine:
        yield Client(engine)


def test_writes_need_the_authorization_token(client):
    assert client.post(body("guarded"), headers={}).status_code == 403
    assert client.post(body("guarded"), headers={"X-Auth-User": "wrong"}).status_code == 403
    created = client.post(body("guarded"), headers={}, **{"X-Auth-User": "root"})
    assert created.status_code == 201, created.text  # the token as a parameter, like Judge0
    assert client.put("guarded", body("guarded"), headers={}).status_code == 403
    assert client.delete("guarded", headers={}).status_code == 403
    assert client.delete("guarded").status_code == 200


def test_create_then_read_without_leaking_hidden_cases(client):
    created = client.post(body("leak-check"))
    assert created.status_code == 201, created.text
    shown = created.json()
    assert (shown["slug"], shown["version"], shown["total_test_cases"]) == ("leak-check", 1, 2)
    assert shown["test_cases"] == [{"index": 1, "hidden": False, "points": "1"},
                                   {"index": 2, "hidden": True, "points": "2"}]
    assert shown["checker"] == {"type": "judge0"} and shown["interactor"] is None
    assert shown["limits"] == {"cpu_time_limit": 1.5}

    public = client.get("/problems/leak-check")
    assert public.status_code == 200 and SECRET not in public.text and ANSWER not in public.text
    cases = public.json()["test_cases"]
    assert cases[0] == {"index": 1, "hidden": False, "points": "1", "stdin": "1 2\n",
                        "expected_output": "3\n"}
    assert cases[1] == {"index": 2, "hidden": True, "points": "2"}
    assert SECRET not in client.get("/problems/leak-check", base64_encoded="true").text
    assert SECRET not in client.get("/problems/leak-check", {"X-Auth-User": "x"}).text
    assert SECRET not in client.get("/problems").text

    full = client.get("/problems/leak-check", TOKEN).json()["test_cases"]
    assert full[1]["stdin"] == SECRET and full[1]["expected_output"] == ANSWER + "\n"
    encoded = client.get("/problems/leak-check.json", TOKEN, base64_encoded="true").json()
    assert base64.b64decode(encoded["test_cases"][1]["stdin"]) == SECRET.encode()


def test_a_zip_of_tests_with_visible_samples(client):
    members = {f"tests/{n:02d}.{kind}": f"{kind}-{n}\n".encode()
               for n in range(1, 12) for kind in ("in", "out")}
    created = client.post({"slug": "from-zip", "title": "Zip", "visible_cases": [1, 2]},
                          zipped(members))
    assert created.status_code == 201, created.text
    cases = client.get("/problems/from-zip").json()["test_cases"]
    assert len(cases) == 11 and [c["hidden"] for c in cases] == [False, False] + [True] * 9
    assert cases[1]["stdin"] == "in-2\n" and "stdin" not in cases[2]
    full = client.get("/problems/from-zip", TOKEN).json()["test_cases"]
    assert [c["expected_output"] for c in full] == [f"out-{n}\n" for n in range(1, 12)]


def test_large_test_data_streams_back_whole(client):
    big = bytes(range(256)) * 6000  # 1.5 MB, not UTF-8
    created = client.post({"slug": "large", "title": "Large"},
                          zipped({"1.in": big, "1.out": b"ok\n"}))
    assert created.status_code == 201, created.text
    answer = client.get("/problems/large", TOKEN, base64_encoded="true")
    assert base64.b64decode(answer.json()["test_cases"][0]["stdin"]) == big
    plain = client.get("/problems/large", TOKEN)
    assert plain.status_code == 400 and "base64_encoded=true" in plain.json()["error"]


@pytest.mark.parametrize("tests, message", [
    (b"this is not a zip", "not a readable zip archive"),
    (zipped({"1.in": b"1", "1.out": b"1", "2.in": b"2"}), "2.in has no 2.out"),
    (zipped({"1.in": b"1", "1.out": b"1", "2.out": b"2"}), "2.out has no 2.in"),
    (zipped({"1.in": b"1", "01.in": b"1", "1.out": b"1"}), "the same test twice"),
    (zipped({"1.in": b"1", "1.out": b"1", "notes.txt": b"x"}), "found notes.txt"),
    (zipped({"1.in": b"\0" * (3 << 20), "1.out": b""}), "more than the 2097152 bytes"),
])
def test_a_bad_zip_is_a_422_saying_what_to_fix(client, tests, message):
    answer = client.post({"slug": "bad-zip", "title": "Bad"}, tests)
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["tests"][0]
    assert client.get("/problems/bad-zip").status_code == 404


def test_a_zip_larger_than_problem_max_size_is_a_413(client):
    noise = bytes((i * 7919) % 251 for i in range(3 << 20))  # stays large once deflated
    answer = client.post({"slug": "too-big", "title": "Big"},
                         zipped({"1.in": noise, "1.out": b""}, zipfile.ZIP_STORED))
    assert answer.status_code == 413 and "PROBLEM_MAX_SIZE" in answer.json()["error"]


def test_multipart_mistakes_are_told(client):
    url = f"{client.url}/problems"
    missing = requests.post(url, headers=TOKEN, timeout=30,
                            files={"tests": ("t.zip", zipped({"1.in": b"", "1.out": b""}))})
    assert missing.status_code == 422 and "problem" in missing.json()
    broken = requests.post(url, headers=TOKEN, timeout=30, files={"problem": (None, "{nope")})
    assert broken.status_code == 422 and "is not JSON" in broken.json()["problem"][0]
    extra = requests.post(url, headers=TOKEN, timeout=30, files={
        "problem": (None, json.dumps(body("extra"))), "test": ("t.zip", b"")})
    assert extra.status_code == 422 and "test" in extra.json()
    both = client.post(body("both"), zipped({"1.in": b"", "1.out": b""}))
    assert both.status_code == 422 and "not both" in both.json()["test_cases"][0]


def test_validation_errors_name_the_attribute(client):
    answer = client.post({"slug": "Bad Slug", "title": "", "limits": {"memory_limit": 10**9},
                          "checker": {"type": "float", "absolute": -1},
                          "test_cases": [{"stdin": 5}]})
    assert answer.status_code == 422
    assert set(answer.json()) == {"slug", "title", "limits.memory_limit", "checker.absolute",
                                  "test_cases.1.stdin"}
    assert answer.json()["limits.memory_limit"] == ["must be less than or equal to 512000"]
    assert client.post([1, 2]).status_code == 422
    garbage = requests.post(f"{client.url}/problems", data=b"{", headers={
        **TOKEN, "Content-Type": "application/json"}, timeout=30)
    assert garbage.status_code == 400


def test_an_edit_makes_a_new_version_and_the_old_one_stays(client):
    assert client.post(body("edited")).status_code == 201
    assert client.post(body("edited")).status_code == 409
    edited = client.put("edited", {"title": "A plus B, again", "checker": {"type": "tokens"},
                                   "test_cases": [{"stdin": "2 2", "expected_output": "4"}]})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.json()["current_version"]) == (2, 2)
    current = client.get("/problems/edited").json()
    assert (current["version"], current["title"], current["checker"]) == (
        2, "A plus B, again", {"type": "tokens"})
    old = client.get("/problems/edited", version="1").json()
    assert (old["version"], old["current_version"], old["title"]) == (1, 2, "A plus B")
    assert old["test_cases"][0]["stdin"] == "1 2\n"
    assert client.get("/problems/edited", version="3").status_code == 404
    assert client.get("/problems/edited", version="0").status_code == 400
    assert client.get("/problems/edited", version="99999999999999").status_code == 404
    assert client.put("edited", body("renamed")).status_code == 422
    assert client.put("never-made", body("never-made")).status_code == 404


def test_delete_then_gone(client):
    assert client.post(body("doomed")).status_code == 201
    deleted = client.delete("doomed")
    assert deleted.status_code == 200
    assert (deleted.json()["slug"], deleted.json()["version"]) == ("doomed", 1)
    assert client.get("/problems/doomed").status_code == 404
    assert client.delete("doomed").status_code == 404
    assert client.get("/problems/NOT%00valid").status_code == 404


def test_the_list_pages_like_submissions(client):
    for n in range(3):
        assert client.post(body(f"page-{n}")).status_code == 201
    first = client.get("/problems", per_page="2", page="1").json()
    total = first["meta"]["total_count"]
    assert first["meta"]["current_page"] == 1 and first["meta"]["next_page"] == 2
    assert first["meta"]["total_pages"] == -(-total // 2) and len(first["problems"]) == 2
    assert set(first["problems"][0]) == {"slug", "title", "version", "total_test_cases",
                                         "created_at", "updated_at"}
    slugs = [p["slug"] for p in client.get("/problems", per_page="1000").json()["problems"]]
    assert slugs == sorted(slugs) and {"page-0", "page-1", "page-2"} <= set(slugs)
    assert client.get("/problems", page="0").status_code == 400
    far = client.get("/problems", page="99999999999999999", per_page="99999999999").json()
    assert far["problems"] == [] and far["meta"]["total_count"] == total


def test_a_checker_that_does_not_compile_is_a_422_quoting_the_compiler(client):
    answer = client.post(body("broken-checker", checker={
        "type": "custom", "source_code": "int main() { return 0 }", "language_id": CPP}))
    assert answer.status_code == 422, answer.text
    message, = answer.json()["checker"]
    assert message.startswith("does not compile: main.cpp") and "error: expected" in message
    interactor = client.post(body("broken-interactor", interactor={
        "source_code": "int main( {", "language_id": CPP}))
    assert interactor.status_code == 422
    assert interactor.json()["interactor"][0].startswith("does not compile: ")
    unknown = client.post(body("unknown-language", checker={
        "type": "custom", "source_code": CHECKER, "language_id": 99999}))
    assert unknown.json() == {"checker.language_id": ["language with id 99999 doesn't exist"]}
    assert client.get("/problems/broken-checker").status_code == 404


def test_a_custom_checker_that_compiles_is_stored_and_its_source_kept_from_the_public(client):
    testlib = base64.b64encode(b"// a header the checker may include\n").decode()
    answer = client.post(body("custom-checker", files={"testlib.h": testlib}, checker={
        "type": "custom", "source_code": '#include "testlib.h"\n' + CHECKER,
        "language_id": CPP}))
    assert answer.status_code == 201, answer.text
    public = client.get("/problems/custom-checker").json()
    assert public["checker"] == {"type": "custom", "language_id": CPP}
    assert public["files"] == ["testlib.h"]
    holder = client.get("/problems/custom-checker", TOKEN).json()
    assert "#include <fstream>" in holder["checker"]["source_code"]
    listed = client.get("/submissions", TOKEN).json()
    assert listed["meta"]["total_count"] == 0  # the compile probes are not kept
