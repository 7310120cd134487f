"""Deciding a run's verdict. This part holds Judge0's ``expected_output`` comparison (§6.5)."""

from __future__ import annotations

__all__ = ["normalize_output", "outputs_match"]

# Ruby's rstrip: whitespace and NUL.
_TRAILING_BLANKS = b" \t\n\v\f\r\0"


def normalize_output(output: bytes) -> bytes:
    """Judge0's normalisation before comparing: strip trailing whitespace (and NUL) from every
    line, rejoin with ``\\n``, strip trailing whitespace from the whole. Leading whitespace and
    leading blank lines stay significant; ``\\r\\n`` endings are tolerated."""
    lines = output.split(b"\n")
    return b"\n".join(line.rstrip(_TRAILING_BLANKS) for line in lines).rstrip(_TRAILING_BLANKS)


def outputs_match(expected: bytes | None, stdout: bytes | None) -> bool:
    """True if the run is Accepted as far as output goes.

    No expected output means no comparison. A program that printed nothing has a null
    ``stdout`` (Judge0 stores empty output as null, and so is ``b""`` treated here), which
    never equals an expected output, not even ``""``: Judge0 gives Wrong Answer there.
    """
    if expected is None:
        return True
    if not stdout:
        return False
    return normalize_output(expected) == normalize_output(stdout)
