// The page: languages from GET /languages, a run is POST /submissions then its live events
// (GET /submissions/{token}/events) until the final one; `#token=...` reopens a submission.
import { fetchSubmission, getConfig, getLanguages, getProblems, loadAuth, saveAuth, submit,
  waitFor } from "./api.js";
import { createEditor } from "./editor.js";
import { starterFor } from "./starters.js";

const $ = (id) => document.getElementById(id);
const LAST_LANGUAGE = "judge-playground-language";
const NUMBERS = ["cpu_time_limit", "memory_limit"];
const TEXTS = ["compiler_options", "command_line_arguments"];
const OUTPUTS = [["stdout", "Output (stdout)"], ["stderr", "Errors (stderr)"],
                 ["compile_output", "Compiler output"], ["message", "Message"]];

let auth = loadAuth();
let pristine = true; // the editor holds an untouched starter program: replace it freely
let settingCode = false;
let current = 0; // the run or reopen whose answers are shown; older ones are ignored

const editor = createEditor($("editor"), {
  onRun: run,
  onChange: () => { if (!settingCode) pristine = false; },
});

function setCode(text, isStarter) {
  settingCode = true;
  editor.text = text;
  settingCode = false;
  pristine = isStarter;
}

// -- showing results --------------------------------------------------------------------------

function kindOf(id) {
  if (id <= 2) return "pending";
  if (id === 3) return "ok";
  if (id === 5) return "warn"; // Time Limit Exceeded
  if (id >= 13) return "internal"; // Internal Error, Exec Format Error
  return "error";
}

function showStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.dataset.kind = kind;
  $("run").setAttribute("aria-busy", String(kind === "pending"));
}

function showError(message) {
  showStatus(message, "error");
  $("facts").hidden = true;
  $("cases").hidden = true;
  $("outputs").replaceChildren();
}

function caseRow(result) {
  const row = document.createElement("tr");
  row.dataset.kind = kindOf(result.status.id);
  const cells = [`${result.index}${result.hidden ? " (hidden)" : ""}`, result.status.description,
                 result.time == null ? "–" : `${result.time} s`,
                 result.memory == null ? "–" : `${result.memory} KB`, result.message ?? ""];
  for (const text of cells) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  return row;
}

/** A problem's per-case results: as each case is judged (`add`), then all of them. */
function showCases(results, summary) {
  $("cases").hidden = false;
  $("case-rows").replaceChildren(...results.map(caseRow));
  $("cases-summary").textContent = summary;
}

function addCase(result) {
  $("cases").hidden = false;
  $("case-rows").append(caseRow(result));
  $("cases-summary").textContent = `Test cases: ${result.index} judged…`;
}

function showSubmission(data) {
  showStatus(data.status.description, kindOf(data.status.id));
  if (Array.isArray(data.test_cases)) {
    showCases(data.test_cases, `Test cases: ${data.passed_test_cases} of ` +
              `${data.total_test_cases} passed, score ${data.score}`);
  }
  $("facts").hidden = false;
  $("time").textContent = data.time == null ? "–" : `${data.time} s`;
  $("memory").textContent = data.memory == null ? "–" : `${data.memory} KB`;
  $("exit").textContent = data.exit_signal != null ? `signal ${data.exit_signal}`
    : data.exit_code != null ? `code ${data.exit_code}` : "–";
  const link = $("token");
  link.textContent = data.token;
  link.href = `#token=${data.token}`;
  const blocks = OUTPUTS.filter(([key]) => data[key]).map(([key, title]) => {
    const block = document.createElement("section");
    block.className = `output output-${key}`;
    const heading = document.createElement("h3");
    heading.textContent = title;
    const pre = document.createElement("pre");
    pre.textContent = data[key];
    pre.tabIndex = 0; // scrollable with the keyboard
    block.append(heading, pre);
    return block;
  });
  if (!blocks.length && data.status.id > 2) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = "No output.";
    blocks.push(none);
  }
  $("outputs").replaceChildren(...blocks);
}

// -- languages and settings -------------------------------------------------------------------

function languageName() {
  const select = $("language");
  return select.selectedOptions[0]?.textContent ?? "";
}

function languageChanged() {
  const name = languageName();
  editor.setLanguage(name);
  if (pristine) setCode(starterFor(name), true);
  localStorage.setItem(LAST_LANGUAGE, $("language").value);
}

function selectLanguage(id, name) {
  const select = $("language");
  if (![...select.options].some((o) => o.value === String(id))) {
    select.add(new Option(name || `Language ${id}`, id)); // archived or not offered here
  }
  select.value = String(id);
}

async function loadLanguages() {
  let languages;
  try {
    languages = await getLanguages(auth);
  } catch (error) {
    if ($("language").disabled) $("language").replaceChildren(new Option("No languages yet"));
    showError(`Cannot list the languages. ${error.message}`);
    if (error.status === 401) $("auth").open = true;
    return false;
  }
  const select = $("language");
  const previous = select.disabled ? localStorage.getItem(LAST_LANGUAGE) : select.value;
  select.replaceChildren(...languages.map((l) => new Option(l.name, l.id)));
  const python = languages.find((l) => l.name.startsWith("Python (3"));
  const wanted = languages.find((l) => String(l.id) === previous) ?? python ?? languages[0];
  if (wanted) select.value = String(wanted.id);
  select.disabled = false;
  $("run").disabled = false;
  languageChanged();
  showStatus("Ready. Press Run or Ctrl+Enter.", "idle");
  getConfig(auth).then((config) => {
    for (const key of NUMBERS) $(key).placeholder = `default ${config[key]}`;
    $("compiler_options").disabled = !config.enable_compiler_options;
    $("command_line_arguments").disabled = !config.enable_command_line_arguments;
  }).catch(() => {}); // placeholders only
  return true;
}

function authChanged() {
  auth = { token: $("auth_token").value.trim(), user: $("auth_user").value.trim() };
  saveAuth(auth);
  loadLanguages();
  loadProblems();
}

// -- running and reopening --------------------------------------------------------------------

function submission() {
  const body = { source_code: editor.text, language_id: Number($("language").value) };
  if ($("problem").value) {
    body.problem = $("problem").value;
  } else {
    body.stdin = $("stdin").value;
    if ($("expected_output").value) body.expected_output = $("expected_output").value;
  }
  for (const key of NUMBERS) if ($(key).value !== "") body[key] = Number($(key).value);
  for (const key of TEXTS) if ($(key).value && !$(key).disabled) body[key] = $(key).value;
  return body;
}

function follow(id, token) {
  return waitFor(auth, token, showSubmission, () => id === current,
                 (result) => { if (id === current) addCase(result); });
}

async function loadProblems() {
  let found;
  try {
    found = (await getProblems(auth)).problems;
  } catch {
    return; // a server without problems, or not allowed: the picker stays with "None"
  }
  const select = $("problem");
  const chosen = select.value;
  select.replaceChildren(new Option("None: my own input", ""),
                         ...found.map((p) => new Option(`${p.title} (${p.slug})`, p.slug)));
  select.value = found.some((p) => p.slug === chosen) ? chosen : "";
  problemChanged();
}

function problemChanged() {
  $("own-input").hidden = $("problem").value !== "";
}

async function run() {
  if ($("run").disabled) return;
  const id = ++current;
  showStatus("Submitting…", "pending");
  $("facts").hidden = true;
  $("cases").hidden = true;
  $("case-rows").replaceChildren();
  $("outputs").replaceChildren();
  try {
    const token = await submit(auth, submission());
    if (id !== current) return;
    history.replaceState(null, "", `#token=${token}`);
    await follow(id, token);
  } catch (error) {
    if (id === current) showError(error.message);
  }
}

async function reopen(token) {
  const id = ++current;
  showStatus(`Opening ${token}…`, "pending");
  try {
    const data = await fetchSubmission(auth, token);
    if (id !== current) return;
    selectLanguage(data.language_id, data.language?.name);
    editor.setLanguage(languageName());
    setCode(data.source_code ?? "", false);
    if (data.problem && [...$("problem").options].some((o) => o.value === data.problem)) {
      $("problem").value = data.problem;
    }
    problemChanged();
    $("stdin").value = data.stdin ?? "";
    $("expected_output").value = data.expected_output ?? "";
    for (const key of [...NUMBERS, ...TEXTS]) $(key).value = data[key] ?? "";
    showSubmission(data);
    if (data.status.id <= 2) await follow(id, token);
  } catch (error) {
    if (id === current) showError(`Cannot open submission ${token}. ${error.message}`);
  }
}

function tokenInUrl() {
  return new URLSearchParams(location.hash.slice(1)).get("token")
    ?? new URLSearchParams(location.search).get("token");
}

// -- wiring -----------------------------------------------------------------------------------

$("auth_token").value = auth.token ?? "";
$("auth_user").value = auth.user ?? "";
$("auth_token").addEventListener("change", authChanged);
$("auth_user").addEventListener("change", authChanged);
$("language").addEventListener("change", languageChanged);
$("problem").addEventListener("change", problemChanged);
$("run").addEventListener("click", run);
document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
    event.preventDefault();
    run();
  }
});
window.addEventListener("hashchange", () => {
  const token = tokenInUrl();
  if (token) reopen(token);
});

loadProblems();
loadLanguages().then((ok) => {
  const token = tokenInUrl();
  if (ok && token) reopen(token);
});
