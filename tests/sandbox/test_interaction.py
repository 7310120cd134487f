"""Interactive runs (judge/judging/interaction.py) against the real sandbox: a guessing game
whose interactor (programs/guess_interactor.c) reads its secret from a file in its own box,
played by right, wrong, idle, silent, flooding and hostile programs, on both launch paths
(warm sessions, one bubblewrap per run). Each game ends, and leaves nothing running."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from judge.judging.interaction import interact
from judge.sandbox import Limits, NativeSandbox, Outcome, RunResult, RunSpec

from ..hostcheck import run_cgroups
from .conftest import FIRST_UID, another_sandbox, live_box_processes

SECRET, BOUND = 777013, 20  # in 1..1000000: binary search needs at most 20 guesses
GENEROUS = {"cpu_time": 5, "wall_time": 15}  # CPU is shared: limits that never decide a game

BINARY_SEARCH = """
lo, hi = 1, 1000000
while True:
    mid = (lo + hi) // 2
    print(mid, file=OUT, flush=True)
    answer = IN.readline().strip()
    if answer == "=":
        break
    if answer == "<":
        hi = mid - 1
    else:
        lo = mid + 1
"""
RIGHT = "import sys\nIN, OUT = sys.stdin, sys.stdout" + BINARY_SEARCH
# A program may open its streams again by path, as it could a file in Judge0.
RIGHT_BY_PATH = 'IN, OUT = open("/dev/stdin"), open("/dev/stdout", "w")' + BINARY_SEARCH
SEQUENTIAL = """
guess = 1
while True:
    print(guess, flush=True)
    if input() == "=":
        break
    guess += 1
"""


@pytest.fixture(scope="module")
def warm_interactor(session_sandbox: NativeSandbox) -> Iterator[NativeSandbox]:
    with another_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def cold_pair(session_sandbox: NativeSandbox) -> Iterator[tuple[NativeSandbox, NativeSandbox]]:
    with another_sandbox(zygotes=False) as program, another_sandbox(zygotes=False) as peer:
        yield program, peer


class Game:
    """A program's box and an interactor's box holding the interactor and its secret."""

    def __init__(self, program: NativeSandbox, interactor: NativeSandbox,
                 compiled: dict[str, bytes]):
        assert program.box.uid != interactor.box.uid
        self.program, self.interactor = program, interactor
        program.box.reset()
        interactor.box.reset()
        interactor.box.write("interactor", compiled["guess_interactor"], mode=0o755)
        interactor.box.write("secret.txt", f"{SECRET} {BOUND}\n".encode(), mode=0o600)

    def play(self, *argv: str, source: str | None = None, interactor: tuple[str, ...] = (),
             limits: dict | None = None, interactor_limits: dict | None = None,
             **options) -> tuple[RunResult, RunResult]:
        if source is not None:
            self.program.box.replace("main.py", source.encode())
            argv = ("/usr/bin/python3", "main.py")
        results = interact(
            self.program, RunSpec(argv, Limits(**(limits or GENEROUS)), **options),
            self.interactor, RunSpec(interactor or ("./interactor", "secret.txt"),
                                     Limits(**(interactor_limits or GENEROUS))))
        assert live_box_processes() == []  # both ended, with everything they started
        assert run_cgroups(FIRST_UID, 1000) == []
        return results

    def python(self, source: str, **kwargs) -> tuple[RunResult, RunResult]:
        return self.play(source=source, **kwargs)


@pytest.fixture(params=["warm", "cold"])
def game(request, box, compiled) -> Game:
    if request.param == "warm":
        return Game(box.sandbox, request.getfixturevalue("warm_interactor"), compiled)
    return Game(*request.getfixturevalue("cold_pair"), compiled)


@pytest.fixture
def warm_game(box, warm_interactor, compiled) -> Game:
    return Game(box.sandbox, warm_interactor, compiled)


def verdict(result: RunResult) -> tuple[Outcome, int | None]:
    return result.outcome, result.exit_code


# -- the game ---------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [RIGHT, RIGHT_BY_PATH], ids=["stdio", "by-path"])
def test_binary_search_wins(game, source):
    program, interactor = game.python(source)
    assert verdict(program) == (Outcome.OK, 0)
    assert verdict(interactor) == (Outcome.OK, 0), interactor.stderr
    assert interactor.stderr.startswith(b"guessed in ")
    assert program.stdout == interactor.stdout == b""  # the pipes are not captured


def test_too_many_guesses_is_a_wrong_answer(game):
    program, interactor = game.python(SEQUENTIAL)
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 1)
    assert interactor.stderr == f"more than {BOUND} guesses\n".encode()
    assert program.outcome in (Outcome.OK, Outcome.NONZERO_EXIT)  # it read EOF: no limit


def test_a_malformed_guess_is_a_presentation_error(warm_game):
    program, interactor = warm_game.play("/bin/sh", "-c", "echo hello; cat >/dev/null")
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 2)
    assert verdict(program) == (Outcome.OK, 0)  # its cat read to the end


def test_a_program_that_exits_at_once_leaves_the_interactor_at_eof(game):
    program, interactor = game.play("/bin/true")
    assert verdict(program) == (Outcome.OK, 0)
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 1)
    assert interactor.stderr == b"unexpected end of input after 0 guesses\n"


def test_an_idle_program_ends_at_its_wall_clock_limit(game):
    limits = {"cpu_time": 5, "wall_time": 2}
    program, interactor = game.play("/bin/sleep", "60", limits=limits,
                                    interactor_limits=limits)
    assert program.outcome is Outcome.TIME_LIMIT_WALL
    # its own limit (which may come as it exits at the end of input the program's kill gave
    # it), or that end of input a moment before its own limit
    outcome, code = verdict(interactor)
    assert outcome is Outcome.TIME_LIMIT_WALL and code in (None, 1) or \
        (outcome, code) == (Outcome.NONZERO_EXIT, 1)


def test_a_deadlock_ends_at_the_wall_clock_limits(warm_game):
    """Both wait to read: the program's limit ends it, then the interactor reads EOF."""
    program, interactor = warm_game.play("/bin/sh", "-c", "read first_answer",
                                         limits={"cpu_time": 5, "wall_time": 2})
    assert program.outcome is Outcome.TIME_LIMIT_WALL
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 1)


# -- floods -----------------------------------------------------------------------------------

def test_a_flood_of_guesses_ends_when_the_interactor_gives_up(game):
    program, interactor = game.play("/usr/bin/yes", "1")  # never reads an answer
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 1)
    assert (program.outcome, program.signal) == (Outcome.SIGNALED, signal.SIGPIPE)


def test_a_flood_nobody_reads_blocks_on_the_pipe_until_the_limits(game):
    """Nothing is captured: a pipe holds its buffer, and the writer waits."""
    program, interactor = game.play("/bin/cat", "/dev/zero", interactor=("/bin/sleep", "60"),
                                    limits={"cpu_time": 5, "wall_time": 2},
                                    interactor_limits={"cpu_time": 5, "wall_time": 3})
    assert program.outcome is interactor.outcome is Outcome.TIME_LIMIT_WALL
    assert program.stdout == b""


def test_stderr_is_still_captured_under_the_output_cap(warm_game):
    program, interactor = warm_game.play(
        "/bin/sh", "-c", "echo 1; exec yes >&2",
        limits={**GENEROUS, "output_bytes": 4096})
    assert program.outcome is Outcome.OUTPUT_LIMIT
    assert len(program.stderr) == 4096 and program.stdout == b""
    # one guess, then EOF; or its answer to that guess found the program killed already
    assert (verdict(interactor) == (Outcome.NONZERO_EXIT, 1)
            or (interactor.outcome, interactor.signal) == (Outcome.SIGNALED, signal.SIGPIPE))


def test_stderr_to_stdout_sends_stderr_into_the_pipe(warm_game):
    program, interactor = warm_game.play("/bin/sh", "-c", f"echo {SECRET} >&2; read answer",
                                         stderr_to_stdout=True)
    assert verdict(interactor) == (Outcome.OK, 0)
    assert program.stderr == program.stdout == b""


# -- hostile programs -------------------------------------------------------------------------

PATTERN = f"{str(SECRET)[:-1]}[{str(SECRET)[-1]}]"  # finds the secret, is not the secret
LOOK_FOR_THE_SECRET = r"""
{
  ls -la / /box /tmp /dev/shm /run /proc /var/lib/judge
  cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ | tr '\0' ' '
  ls -l /proc/[0-9]*/fd/ /proc/[0-9]*/root/box/ /proc/[0-9]*/cwd/
  readlink /proc/self/fd/0 /proc/self/fd/1
  find / -xdev -name 'secret*' -not -path '/proc/*' -not -path '/usr/*'
  grep -rs -D skip {pattern} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr
} 2>&1 | head -c 500000 >&2
echo 500000
read answer
"""


def test_the_program_cannot_reach_the_interactors_files(game):
    look = LOOK_FOR_THE_SECRET.replace("{pattern}", PATTERN)
    control = game.interactor.run(RunSpec(("/bin/bash", "-c", look), Limits(**GENEROUS)))
    assert str(SECRET).encode() in control.stderr  # the search finds it where it is
    program, interactor = game.play("/bin/bash", "-c", look)
    assert program.outcome is Outcome.OK and b"pipe:[" in program.stderr  # it did look
    assert str(SECRET).encode() not in program.stderr
    assert b"secret.txt" not in program.stderr and b"interactor" not in program.stderr
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 1)  # one wrong guess, then EOF


def test_the_program_cannot_signal_the_interactor(game):
    program, interactor = game.play("/bin/bash", "-c",
                                    "kill -KILL -1; kill -STOP -1; echo 500000; read answer")
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 1)  # alive and answering to the end
    assert interactor.stderr == b"unexpected end of input after 1 guesses\n"


def test_the_program_cannot_write_into_its_own_stdin(warm_game):
    """Its stdin pipe is the interactor's to write (mode 0604): it may reopen it for reading
    only, so it cannot forge the answers it is given."""
    program, interactor = warm_game.python(
        "import errno\n"
        "try:\n"
        "    open('/proc/self/fd/0', 'w')\n"
        "    print('opened')\n"
        "except PermissionError:\n"
        "    print('refused', flush=True)\n")
    assert verdict(program) == (Outcome.OK, 0)
    assert verdict(interactor) == (Outcome.NONZERO_EXIT, 2)  # "refused" is not a guess


# -- the plumbing -----------------------------------------------------------------------------

def test_the_interactors_warm_session_outlives_each_game(warm_game):
    """Its runs start in a long-lived thread: a session started from a thread that ends would
    die with it (PR_SET_PDEATHSIG)."""
    warm_game.python(RIGHT)
    session = warm_game.interactor.session_pids()
    assert session
    program, interactor = warm_game.python(RIGHT)
    assert verdict(interactor) == (Outcome.OK, 0)
    assert warm_game.interactor.session_pids() == session


def test_the_pipes_replace_the_specs_own_stdin(warm_game):
    """A worker builds both specs as for any run (an empty stdin at least)."""
    program, interactor = interact(
        warm_game.program, RunSpec(("/bin/sh", "-c", f"echo {SECRET}; read answer"),
                                   Limits(**GENEROUS), stdin=b"not this\n"),
        warm_game.interactor, RunSpec(("./interactor", "secret.txt"), Limits(**GENEROUS),
                                      stdin=b""))
    assert verdict(program) == verdict(interactor) == (Outcome.OK, 0)


def test_specs_that_cannot_interact_are_refused(warm_game):
    with pytest.raises(ValueError, match="a sandbox each"):
        interact(warm_game.program, RunSpec(("/bin/true",)),
                 warm_game.program, RunSpec(("/bin/true",)))
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(ValueError, match="connects stdin and stdout itself"):
            interact(warm_game.program, RunSpec(("/bin/true",), stdout_fd=write_end),
                     warm_game.interactor, RunSpec(("/bin/true",)))
        with pytest.raises(ValueError, match="not both"):
            RunSpec(("/bin/true",), stdin=b"x", stdin_fd=read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
