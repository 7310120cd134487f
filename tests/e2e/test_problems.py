"""Problems judged by one submission (issue 19): compile once, a verdict per test case, each
checker type, a custom checker and an interactor in a sandbox of their own, early stop,
hidden cases, versions, deletion, the per-case events. Real engine, real sandbox."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .conftest import ROOT, Engine, running_engine, wait_done
from .test_api_live import sse

AUTHZ = {"X-Auth-User": "root"}
CPP = 54
PY = 71
C = 50
JUDGED = ("token,status,stdout,message,time,memory,test_cases,passed_test_cases,"
          "total_test_cases,score")


@pytest.fixture(scope="module")
def judging(database_url, storage) -> Iterator[Engine]:
    env = {"AUTHZ_TOKEN": "root", "MAX_CPU_TIME_LIMIT": "30", "MAX_WALL_TIME_LIMIT": "60"}
    with running_engine(database_url, 4, env, workers=2, schema="api_problem_runs") as engine:
        engine.boxes = Path(engine.env["SANDBOX_BOXES_DIR"])
        yield engine


def create(engine: Engine, problem: dict) -> dict:
    resp = engine.http.post(f"{engine.url}/problems", json=problem, headers=AUTHZ, timeout=120)
    assert resp.status_code == 201, resp.text
    return resp.json()


def new_slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def cases(*pairs: tuple[str, str], hidden: tuple[int, ...] = ()) -> list[dict]:
    return [{"stdin": stdin, "expected_output": answer, "hidden": i in hidden, "points": 1}
            for i, (stdin, answer) in enumerate(pairs)]


def submit(engine: Engine, slug: str, source: str, language: int = PY, **extra) -> dict:
    resp = engine.post({"source_code": source, "language_id": language, "problem": slug,
                        **extra}, wait="true", fields=JUDGED)
    assert resp.status_code == 201, resp.text
    return resp.json()


SUM = cases(("1 2\n", "3\n"), ("10 20\n", "30\n"), ("-5 5\n", "0\n"), hidden=(2,))
SUM_PY = "a, b = map(int, input().split())\nprint(a + b)\n"


def test_every_case_passes_with_one_compilation_and_the_totals(judging):
    slug = new_slug("sum")
    create(judging, {"slug": slug, "title": "A + B", "test_cases": SUM})
    source = ("#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}"
              f"\n// {uuid.uuid4()}\n")
    done = submit(judging, slug, source, CPP)
    assert done["status"]["id"] == 3, done
    assert (done["passed_test_cases"], done["total_test_cases"], done["score"]) == (3, 3, "3.0")
    assert [c["status"]["id"] for c in done["test_cases"]] == [3, 3, 3]
    assert [c["index"] for c in done["test_cases"]] == [1, 2, 3]
    assert done["test_cases"][0]["stdout"] == "3\n"
    assert done["test_cases"][2]["stdout"] is None  # hidden: its output stays with us
    assert done["time"] == max(c["time"] for c in done["test_cases"])


def test_the_first_failure_stops_the_run_unless_all_cases_are_asked_for(judging):
    slug = new_slug("sum")
    create(judging, {"slug": slug, "title": "A + B", "test_cases": SUM})
    wrong = "a, b = map(int, input().split())\nprint(a + b if a != 10 else 0)\n"
    stopped = submit(judging, slug, wrong)
    assert stopped["status"]["id"] == 4  # Wrong Answer, the first failing case's status
    assert [c["status"]["id"] for c in stopped["test_cases"]] == [3, 4]
    everything = submit(judging, slug, wrong, run_all_test_cases=True)
    assert [c["status"]["id"] for c in everything["test_cases"]] == [3, 4, 3]
    assert (everything["passed_test_cases"], everything["score"]) == (2, "2.0")


def test_a_runtime_error_in_a_case_is_that_cases_status(judging):
    slug = new_slug("sum")
    create(judging, {"slug": slug, "title": "A + B", "test_cases": SUM})
    done = submit(judging, slug, "a, b = map(int, input().split())\nassert a != 10\n"
                                 "print(a + b)\n")
    assert done["status"]["id"] == 11
    assert [c["status"]["id"] for c in done["test_cases"]] == [3, 11]


@pytest.mark.parametrize("checker, answer, right, wrong", [
    ({"type": "exact"}, "1 2\n", "print('1 2')", "print('1  2')"),
    ({"type": "judge0"}, "1 2\n", "print('1 2   ')", "print('1 3')"),
    ({"type": "tokens"}, "1 2\n", "print('1\\n\\n   2')", "print('1 2 3')"),
    ({"type": "float", "absolute": 1e-6, "relative": 1e-6}, "0.333333\n",
     "print(1/3)", "print(0.3334)"),
    ({"type": "lines-unordered"}, "a\nb\nc\n", "print('c\\na\\nb')", "print('a\\nb\\nb')"),
], ids=["exact", "judge0", "tokens", "float", "lines-unordered"])
def test_each_built_in_checker_accepts_right_and_refuses_wrong(judging, checker, answer,
                                                               right, wrong):
    slug = new_slug(checker["type"])
    create(judging, {"slug": slug, "title": checker["type"], "checker": checker,
                     "test_cases": cases(("", answer))})
    assert submit(judging, slug, right)["status"]["id"] == 3
    refused = submit(judging, slug, wrong)
    assert refused["status"]["id"] == 4 and refused["test_cases"][0]["status"]["id"] == 4


CHECKER_CPP = r"""
#include <cstdio>
#include <cstdlib>
// A custom checker, testlib's convention without testlib: input, output, answer.
int main(int argc, char **argv) {
    if (argc < 4) return 3;
    FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "r"), *ans = fopen(argv[3], "r");
    if (!in || !out || !ans) return 3;
    long n, got, want;
    if (fscanf(in, "%ld", &n) != 1 || fscanf(ans, "%ld", &want) != 1) return 3;
    if (fscanf(out, "%ld", &got) != 1) { fprintf(stderr, "no number\n"); return 2; }
    // any multiple of n is accepted: the answer file only says how big it must be
    if (got % n != 0 || got < want) { fprintf(stderr, "%ld is not a multiple of %ld at least %ld\n", got, n, want); return 1; }
    fprintf(stderr, "ok %ld\n", got);
    return 0;
}
"""


def test_a_custom_checker_written_in_cpp_decides_with_its_message(judging):
    slug = new_slug("multiple")
    create(judging, {"slug": slug, "title": "A multiple",
                     "checker": {"type": "custom", "source_code": CHECKER_CPP,
                                 "language_id": CPP},
                     "test_cases": cases(("7\n", "7\n"), ("5\n", "10\n"))})
    accepted = submit(judging, slug, "n = int(input())\nprint(n * 10)\n")
    assert accepted["status"]["id"] == 3, accepted
    assert accepted["test_cases"][0]["message"] == "ok 70"
    refused = submit(judging, slug, "n = int(input())\nprint(n + 1)\n")
    assert refused["status"]["id"] == 4
    assert refused["message"] == "8 is not a multiple of 7 at least 7"
    empty = submit(judging, slug, "print()")
    assert empty["status"]["id"] == 4 and "presentation error" in empty["message"]


def test_a_checker_that_crashes_ends_in_internal_error_with_its_message(judging):
    slug = new_slug("crash")
    crashing = "#include <cstdio>\nint main(){fprintf(stderr,\"cannot read the answer\\n\");return 3;}\n"
    create(judging, {"slug": slug, "title": "Crash", "checker": {
        "type": "custom", "source_code": crashing, "language_id": CPP},
        "test_cases": cases(("1\n", "1\n"))})
    done = submit(judging, slug, "print(1)")
    assert done["status"]["id"] == 13
    assert "cannot read the answer" in done["message"]


INTERACTOR_C = r"""
#include <stdio.h>
#include <stdlib.h>
/* The guessing game: the secret is in argv[1]; the program has 20 guesses. */
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "r");
    long secret, guess;
    if (!f || fscanf(f, "%ld", &secret) != 1) return 3;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int tries = 1; tries <= 20; tries++) {
        if (scanf("%ld", &guess) != 1) { fprintf(stderr, "no guess after %d tries\n", tries - 1); return 1; }
        if (guess == secret) { printf("=\n"); fprintf(stderr, "found in %d\n", tries); return 0; }
        printf(guess < secret ? "<\n" : ">\n");
    }
    fprintf(stderr, "20 guesses were not enough\n");
    return 1;
}
"""
BISECT = """import sys
lo, hi = 1, 1000000
while True:
    mid = (lo + hi) // 2
    print(mid, flush=True)
    answer = input().strip()
    if answer == "=":
        break
    if answer == "<":
        lo = mid + 1
    else:
        hi = mid - 1
"""


@pytest.fixture(scope="module")
def game(judging) -> str:
    slug = new_slug("guess")
    create(judging, {"slug": slug, "title": "Guess the number",
                     "interactor": {"source_code": INTERACTOR_C, "language_id": C},
                     "limits": {"wall_time_limit": 5},
                     "test_cases": cases(("123456\n", ""), ("999999\n", ""), ("1\n", ""))})
    return slug


def test_an_interactive_solution_that_bisects_is_accepted(judging, game):
    done = submit(judging, game, BISECT)
    assert done["status"]["id"] == 3, done
    assert [c["message"] for c in done["test_cases"]][0].startswith("found in ")


def test_an_interactive_solution_that_guesses_badly_is_wrong(judging, game):
    done = submit(judging, game, "for i in range(1, 30):\n    print(i, flush=True)\n"
                                 "    if input().strip() == '=':\n        break\n")
    assert done["status"]["id"] == 4
    assert "20 guesses were not enough" in done["message"]


def test_an_interactive_solution_that_waits_for_nothing_runs_out_of_time(judging, game):
    done = submit(judging, game, "import time\ntime.sleep(60)\n")
    assert done["status"]["id"] == 5  # its wall time, not a hang


def test_cases_stream_as_events_one_per_case(judging):
    slug = new_slug("sum")
    create(judging, {"slug": slug, "title": "A + B", "test_cases": SUM})
    token = judging.post({"source_code": SUM_PY, "language_id": PY,
                          "problem": slug}).json()["token"]
    events = sse(judging, token)
    kinds = [e["event"] for e in events]
    assert kinds.count("test_case") == 3 and kinds[-1] == "final"
    assert [e["data"]["index"] for e in events if e["event"] == "test_case"] == [1, 2, 3]
    assert events[-1]["data"]["token"] == token


def test_a_problem_edited_while_its_submission_waits_judges_it_by_its_own_version(
        database_url, storage):
    env = {"AUTHZ_TOKEN": "root"}
    # its own Redis database: this module's other engine, on 4, must not take its jobs
    with running_engine(database_url, 2, env, workers=0, schema="api_problem_edits") as engine:
        slug = new_slug("edit")
        create(engine, {"slug": slug, "title": "v1", "test_cases": cases(("", "one\n"))})
        first = engine.post({"source_code": "print('one')", "language_id": PY,
                             "problem": slug}).json()["token"]
        edited = engine.http.put(f"{engine.url}/problems/{slug}", headers=AUTHZ, timeout=60,
                                 json={"slug": slug, "title": "v2",
                                       "test_cases": cases(("", "two\n"))})
        assert edited.status_code in (200, 201), edited.text
        second = engine.post({"source_code": "print('one')", "language_id": PY,
                              "problem": slug}).json()["token"]
        gone = new_slug("gone")
        create(engine, {"slug": gone, "title": "gone", "test_cases": cases(("", "x\n"))})
        orphan = engine.post({"source_code": "print('x')", "language_id": PY,
                              "problem": gone}).json()["token"]
        assert engine.http.delete(f"{engine.url}/problems/{gone}", headers=AUTHZ,
                                  timeout=30).status_code == 200
        worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=engine.env)
        try:
            assert wait_done(engine, first)["id"] == 3  # version 1's answer
            assert wait_done(engine, second)["id"] == 4  # version 2's
            assert wait_done(engine, orphan)["id"] == 13
        finally:
            worker.terminate()
            worker.wait(60)
        message = engine.get(f"/submissions/{orphan}", fields="message").json()["message"]
        assert message == f"the problem {gone} was deleted before this submission was judged"


def test_bad_problem_submissions_get_clear_422s(judging):
    missing = judging.post({"source_code": "print(1)", "language_id": PY,
                            "problem": "no-such-problem"})
    assert (missing.status_code, missing.json()) == (
        422, {"problem": ["problem no-such-problem doesn't exist"]})
    slug = new_slug("sum")
    create(judging, {"slug": slug, "title": "A + B", "test_cases": SUM})
    with_input = judging.post({"source_code": "print(1)", "language_id": PY, "problem": slug,
                               "stdin": "1 2"})
    assert with_input.status_code == 422
    assert "stdin" in with_input.json()
    strange = judging.post({"source_code": "print(1)", "language_id": PY, "problem": [1]})
    assert (strange.status_code, strange.json()) == (
        422, {"problem": ["must be the slug of a problem"]})


def test_star_shows_the_problem_fields_only_for_problem_submissions(judging):
    slug = new_slug("sum")
    create(judging, {"slug": slug, "title": "A + B", "test_cases": SUM})
    judge0 = judging.run({"source_code": "print(1)", "language_id": PY})
    problem = submit(judging, slug, SUM_PY)
    plain = judging.get(f"/submissions/{judge0['token']}", fields="*").json()
    assert not {"problem", "test_cases", "score"} & set(plain)  # Judge0's keys, exactly
    theirs = judging.get(f"/submissions/{problem['token']}", fields="*").json()
    assert theirs["problem"] == slug and theirs["total_test_cases"] == 3
    assert theirs["run_all_test_cases"] is False


def test_the_second_submission_finds_the_test_data_in_the_workers_cache(judging):
    slug = new_slug("big")
    big_input = "7\n" * 200000  # 400 KB
    create(judging, {"slug": slug, "title": "Count", "test_cases": cases((big_input, "200000\n"))})
    count = "import sys\nprint(len(sys.stdin.read().split()))\n"
    cache = judging.boxes / "test-data"
    assert submit(judging, slug, count)["status"]["id"] == 3
    before = {p.name: p.stat().st_ino for p in cache.rglob("*") if p.is_file()}
    assert submit(judging, slug, count)["status"]["id"] == 3
    after = {p.name: p.stat().st_ino for p in cache.rglob("*") if p.is_file()}
    assert before and before == after  # fetched once (a fetch writes a new file), not again


def test_problems_and_their_submissions_never_give_a_5xx(judging):
    bodies = [{"problem": "x" * 10000, "source_code": "1", "language_id": PY},
              {"problem": {"a": 1}, "source_code": "1", "language_id": PY},
              {"problem": None, "run_all_test_cases": "maybe", "source_code": "1",
               "language_id": PY}]
    for body in bodies:
        assert judging.post(body).status_code < 500
    assert requests.get(f"{judging.url}/problems/%00", timeout=10).status_code < 500
