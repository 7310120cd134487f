"""The pages for browsers: the web playground at `/` and the dummy client at
`/dummy-client.html`, in Debian's Chromium driven by Playwright against live engines
(gunicorn, workers, the sandbox), plus what `/` answers to clients that are not browsers.

A screenshot of each state goes to tests/artifacts/playground/. Chromium missing is a failure,
not a skip: `make test` installs it (deps/debian-core.txt), so CI cannot pass without it.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import falcon
import falcon.asgi
import falcon.testing
import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.resources import docs, playground
from judge.config import Config

from .conftest import AUTHN, ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts" / "playground"
JUDGED = 60_000  # ms: an upper bound for a verdict on a busy machine, not a measurement
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make deps` installs Debian's chromium"
    assert (playground.BUNDLE / "app.js").exists(), "the playground is not built: make playground"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        # Debian's browser, never one downloaded by Playwright (`playwright install`)
        launched = driver.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh profile (empty localStorage) per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def open_playground(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.locator("#language")).to_be_enabled()


def pick(page: Page, prefix: str) -> str:
    """Select the first language whose name starts with ``prefix``; its name."""
    name = page.eval_on_selector(
        "#language", "(s, p) => [...s.options].find(o => o.text.startsWith(p))?.text", prefix)
    assert name, f"no language named {prefix}... offered"
    page.select_option("#language", label=name)
    return name


def write(page: Page, code: str) -> None:
    page.locator(".cm-content").fill(code)


def expect_verdict(page: Page, description: str, kind: str) -> None:
    status = page.locator("#status")
    expect(status).to_have_text(description, timeout=JUDGED)
    expect(status).to_have_attribute("data-kind", kind)


def output(page: Page, name: str) -> str:
    return page.locator(f".output-{name} pre").text_content()


# -- in the browser ---------------------------------------------------------------------------

def test_python_reading_stdin_is_accepted_with_its_output_and_a_token_link(engine, page):
    open_playground(page, engine.url)
    pick(page, "Python (3")
    write(page, "import sys\ndata = sys.stdin.read()\nprint('lines:', len(data.splitlines()))\n"
                "print(data.upper(), end='')\n")
    page.fill("#stdin", "héllo\nwörld ✓\n")
    page.locator(".cm-content").press("Control+Enter")

    expect_verdict(page, "Accepted", "ok")
    assert output(page, "stdout") == "lines: 2\nHÉLLO\nWÖRLD ✓\n"
    token = page.locator("#token").inner_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", token)
    assert page.locator("#token").get_attribute("href") == f"#token={token}"
    assert urlsplit(page.url).fragment == f"token={token}"
    assert page.locator("#time").inner_text().endswith(" s")
    assert page.locator("#memory").inner_text().endswith(" KB")
    shot(page, "01-python-accepted")


@pytest.mark.slow
def test_a_run_follows_the_live_events_instead_of_polling(engine, page):
    requests_made: list[str] = []
    page.on("request", lambda request: requests_made.append(urlsplit(request.url).path))
    open_playground(page, engine.url)
    pick(page, "Python (3")
    write(page, "import time\ntime.sleep(1)\nprint('done')\n")
    page.locator("#run").click()
    expect_verdict(page, "Accepted", "ok")
    assert output(page, "stdout") == "done\n"
    token = page.locator("#token").inner_text()
    assert requests_made.count(f"/submissions/{token}/events") == 1
    assert f"/submissions/{token}" not in requests_made  # never polled


def test_each_core_languages_starter_program_greets_its_stdin(engine, page):
    """The toolchains `make test` installs; switching language replaces an untouched starter."""
    open_playground(page, engine.url)
    tokens = set()
    for prefix in ("Python (3", "C (GCC", "C++ (GCC", "Java (", "JavaScript (", "Bash ("):
        name = pick(page, prefix)
        page.click("#run")
        expect_verdict(page, "Accepted", "ok")
        tokens.add(page.locator("#token").text_content())
        assert output(page, "stdout") == "Hello, world!\n", name
    assert len(tokens) == 6  # six runs, each one's own verdict


def test_the_language_list_offers_todays_judge0_ids(engine, page):
    open_playground(page, engine.url)
    offered = dict(page.eval_on_selector_all(
        "#language option", "options => options.map(o => [o.value, o.text])"))
    assert offered["105"] == "C++ (GCC 12.2.0)" and offered["103"] == "C (GCC 12.2.0)"
    assert offered["113"] == "Python (3.11.2, replaces 3.14.0)"
    assert offered["54"] == "C++ (GCC 12.2.0, replaces GCC 9.2.0)"


def test_a_c_compile_error_shows_the_compiler_message(engine, page):
    open_playground(page, engine.url)
    pick(page, "C (GCC")
    write(page, "int main(void) {\n    return undeclared_thing;\n}\n")
    page.click("#run")

    expect_verdict(page, "Compilation Error", "error")
    assert "undeclared_thing" in output(page, "compile_output")
    assert "undeclared" in output(page, "compile_output")
    shot(page, "02-c-compilation-error")


def test_an_endless_loop_with_a_one_second_limit_is_time_limit_exceeded(engine, page):
    open_playground(page, engine.url)
    pick(page, "Python (3")
    write(page, "while True:\n    pass\n")
    page.click("#options summary")
    page.fill("#cpu_time_limit", "1")
    page.click("#run")

    expect_verdict(page, "Time Limit Exceeded", "warn")
    shot(page, "03-python-time-limit-exceeded")


def test_the_token_link_reopens_the_submission_in_a_new_browser(engine, browser, page):
    open_playground(page, engine.url)
    pick(page, "Bash")
    write(page, 'read -r who\necho "bye, $who" >&2\necho "hi, $who"\n')
    page.fill("#stdin", "there\n")
    page.click("#run")
    expect_verdict(page, "Accepted", "ok")
    link = page.locator("#token").get_attribute("href")

    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        reopened = other.new_page()
        reopened.goto(f"{engine.url}/{link}")
        expect_verdict(reopened, "Accepted", "ok")
        assert output(reopened, "stdout") == "hi, there\n"
        assert output(reopened, "stderr") == "bye, there\n"
        assert reopened.locator("#stdin").input_value() == "there\n"
        expect(reopened.locator(".cm-content")).to_contain_text('echo "hi, $who"')
        assert reopened.locator("#language option:checked").inner_text().startswith("Bash")
        shot(reopened, "04-reopened-by-token")
    finally:
        other.close()


def test_the_page_requests_nothing_outside_the_engine_and_logs_no_error(engine, page):
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    open_playground(page, engine.url)
    pick(page, "JavaScript")
    page.click("#run")  # the starter program, with the default stdin
    expect_verdict(page, "Accepted", "ok")
    assert output(page, "stdout") == "Hello, world!\n"

    origin = urlsplit(engine.url)
    assert requested and {urlsplit(url)[:2] for url in requested} == {origin[:2]}, requested
    assert problems == []


def test_every_control_is_labelled_and_the_keyboard_alone_can_run(engine, page):
    open_playground(page, engine.url)
    for label in ("Language", "Source code", "Problem (optional: its test cases are the input)",
                  "Input (stdin)", "Expected output (optional)",
                  "CPU time limit (s)", "Memory limit (KB)", "Compiler options",
                  "Command-line arguments", "X-Auth-Token", "X-Auth-User"):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    expect(page.get_by_role("status")).to_have_attribute("aria-live", "polite")

    page.locator(".cm-content").focus()
    page.keyboard.press("Tab")  # indents inside the editor...
    expect(page.locator(".cm-content")).to_be_focused()
    page.keyboard.press("Control+z")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # ...until Escape: then Tab moves on, to the problem picker
    expect(page.locator("#problem")).to_be_focused()
    page.keyboard.press("Tab")  # and to stdin
    expect(page.locator("#stdin")).to_be_focused()
    page.keyboard.press("Control+Enter")
    expect_verdict(page, "Accepted", "ok")  # the starter, its indentation undone
    assert output(page, "stdout") == "Hello, world!\n"


def test_on_a_phone_nothing_overflows_sideways(engine, browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        open_playground(page, engine.url)
        pick(page, "Python (3")
        write(page, "print('x' * 300)\nprint(' '.join(['word'] * 80))\n" + "# " + "y" * 200)
        page.click("#options summary")
        page.click("#run")
        expect_verdict(page, "Accepted", "ok")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        shot(page, "05-phone")
    finally:
        context.close()


def test_with_authentication_the_token_is_asked_for_kept_and_sent(secured_engine, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(secured_engine.url + "/")
        expect_verdict(page, re.compile("401 Unauthorized"), "error")
        expect(page.locator("#auth")).to_have_attribute("open", "")
        shot(page, "06-auth-required")

        page.fill("#auth_token", AUTHN["X-Auth-Token"])
        page.press("#auth_token", "Tab")  # `change`: stored, languages loaded again
        expect(page.locator("#language")).to_be_enabled()
        page.reload()  # the token comes back from localStorage
        expect(page.locator("#language")).to_be_enabled()
        pick(page, "Python (3")
        page.click("#run")  # the starter program: greets its stdin
        expect_verdict(page, "Accepted", "ok")
        assert output(page, "stdout") == "Hello, world!\n"
        shot(page, "07-auth-accepted")
    finally:
        context.close()


def test_a_problem_is_picked_and_its_cases_are_shown_one_by_one(secured_engine, browser):
    slug = f"pg-sum-{uuid.uuid4().hex[:8]}"
    created = secured_engine.http.post(f"{secured_engine.url}/problems", timeout=120, json={
        "slug": slug, "title": "Playground sum", "test_cases": [
            {"stdin": "1 2\n", "expected_output": "3\n"},
            {"stdin": "4 5\n", "expected_output": "9\n"},
            {"stdin": "7 7\n", "expected_output": "14\n", "hidden": True}]},
        headers={**AUTHN, "X-Auth-User": "root"})
    assert created.status_code == 201, created.text
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(secured_engine.url + "/")
        page.fill("#auth_token", AUTHN["X-Auth-Token"])
        page.press("#auth_token", "Tab")
        expect(page.locator("#language")).to_be_enabled()
        page.select_option("#problem", slug)
        expect(page.locator("#stdin")).to_be_hidden()  # the cases are the input
        pick(page, "Python (3")
        write(page, "a, b = map(int, input().split())\nprint(a + b if a != 4 else 0)\n")
        page.click("#run")
        expect_verdict(page, "Wrong Answer", "error")
        rows = page.locator("#case-rows tr")
        expect(rows).to_have_count(2)  # stopped at the first failure
        expect(rows.nth(0)).to_contain_text("Accepted")
        expect(rows.nth(1)).to_contain_text("Wrong Answer")
        expect(page.locator("#cases-summary")).to_have_text(
            "Test cases: 1 of 3 passed, score 1.0")
        shot(page, "08-problem-cases")
    finally:
        context.close()


# -- what `/` answers -------------------------------------------------------------------------

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_browsers_get_the_page_and_other_clients_judge0s_empty_home(engine):
    page = requests.get(engine.url + "/", headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    assert page.headers["Vary"] == "Accept"
    policy = page.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in policy and "default-src 'none'" in policy
    assert '<select id="language"' in page.text and "<script src=" not in page.text

    again = requests.get(engine.url + "/", timeout=30, headers={
        "Accept": BROWSER_ACCEPT, "If-None-Match": page.headers["ETag"]})
    assert (again.status_code, again.content) == (304, b"")
    probe = requests.get(engine.url + "/", timeout=30)  # Accept: */*
    assert (probe.status_code, probe.content) == (200, b"")


class _ThreadedClient:
    """falcon's test client for the ASGI app, each request on a thread of its own: the
    browser tests' Playwright keeps an event loop running on this one."""

    def __init__(self, app: falcon.asgi.App):
        self.client = falcon.testing.TestClient(app)

    def simulate_get(self, path: str, **kwargs) -> falcon.testing.Result:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(self.client.simulate_get, path, **kwargs).result()


def _home(environ: dict[str, str], bundle: Path = playground.BUNDLE) -> _ThreadedClient:
    config = Config.load(environ=environ)
    app = falcon.asgi.App()
    app.add_route("/", playground.Home(config, docs.Home(config, docs.Docs(config)), bundle))
    return _ThreadedClient(app)


def test_disabled_the_home_page_is_judge0s_even_for_a_browser():
    headers = {"Accept": BROWSER_ACCEPT}
    plain = _home({"PLAYGROUND_ENABLED": "false"}).simulate_get("/", headers=headers)
    assert (plain.status_code, plain.content) == (200, b"")
    assert "Vary" not in plain.headers
    with_docs = {"PLAYGROUND_ENABLED": "false", "USE_DOCS_AS_HOMEPAGE": "true"}
    docs_page = docs.Docs(Config.load(environ=with_docs)).page
    assert _home(with_docs).simulate_get("/", headers=headers).text == docs_page
    enabled = _home({}).simulate_get("/", headers=headers)
    assert '<select id="language"' in enabled.text


def test_without_a_bundle_the_home_page_is_judge0s_and_the_log_says_how_to_build_it(
        tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=playground.__name__):
        client = _home({}, bundle=tmp_path)
    assert "make playground" in caplog.text
    answer = client.simulate_get("/", headers={"Accept": BROWSER_ACCEPT})
    assert (answer.status_code, answer.content) == (200, b"")


@pytest.mark.parametrize("accept, wanted", [
    (BROWSER_ACCEPT, True), ("text/html", True), ("application/xhtml+xml", True),
    ("*/*", False), (None, False), ("application/json", False), ("text/html;q=0", False),
    ("text/*", False), ("TEXT/HTML; q=0.5", True)])
def test_only_a_client_that_names_html_gets_the_page(accept, wanted):
    assert playground.wants_html(accept) is wanted


# -- /dummy-client.html ---------------------------------------------------------------------

def test_the_dummy_client_is_public_and_runs_only_its_own_script(secured_engine):
    page = requests.get(secured_engine.url + "/dummy-client.html", timeout=30)  # no token
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy.split(";")[1]
    assert requests.get(secured_engine.url + "/submissions", timeout=30).status_code == 401


def test_the_dummy_client_runs_a_submission_and_logs_each_request(engine, page):
    page.goto(engine.url + "/dummy-client.html")
    expect(page.locator("#languages option")).not_to_have_count(1)  # GET /languages answered
    page.select_option("#languages", value="105")
    page.click("#run")
    log = page.locator("#log")
    expect(log).to_contain_text('"description": "Accepted"', timeout=JUDGED)
    expect(page.locator("#state")).to_have_text("idle")
    text = log.inner_text()
    assert f"POST {engine.url}/submissions?base64_encoded=true" in text
    assert f"GET {engine.url}/submissions/" in text
    assert '"stdout": "aGVsbG8sIEp1ZGdlMAo=' in text  # base64 of "hello, Judge0\n"
    shot(page, "dummy-client")
