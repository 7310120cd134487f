"""The 14 Judge0 statuses (§6.1, §15 item 27)."""

from __future__ import annotations

import pytest

from judge.contract import statuses
from judge.contract.statuses import Status


def test_statuses_endpoint_lists_14_statuses_with_exact_descriptions_in_id_order() -> None:
    assert statuses.as_json() == [
        {"id": 1, "description": "In Queue"},
        {"id": 2, "description": "Processing"},
        {"id": 3, "description": "Accepted"},
        {"id": 4, "description": "Wrong Answer"},
        {"id": 5, "description": "Time Limit Exceeded"},
        {"id": 6, "description": "Compilation Error"},
        {"id": 7, "description": "Runtime Error (SIGSEGV)"},
        {"id": 8, "description": "Runtime Error (SIGXFSZ)"},
        {"id": 9, "description": "Runtime Error (SIGFPE)"},
        {"id": 10, "description": "Runtime Error (SIGABRT)"},
        {"id": 11, "description": "Runtime Error (NZEC)"},
        {"id": 12, "description": "Runtime Error (Other)"},
        {"id": 13, "description": "Internal Error"},
        {"id": 14, "description": "Exec Format Error"},
    ]


def test_a_status_is_its_judge0_id() -> None:
    assert Status(11) is Status.RUNTIME_ERROR_NZEC
    assert Status.ACCEPTED == 3
    assert Status.WRONG_ANSWER.as_json() == {"id": 4, "description": "Wrong Answer"}


@pytest.mark.parametrize(("signal", "status_id"), [
    (11, 7), (25, 8), (8, 9), (6, 10), (9, 12), (7, 12), (13, 12), (15, 12), (None, 12),
])
def test_signal_deaths_map_to_judge0_runtime_errors(signal: int | None, status_id: int) -> None:
    assert statuses.for_signal(signal) == status_id


@pytest.mark.parametrize("status_id", range(3, 15))
def test_statuses_from_accepted_on_are_final(status_id: int) -> None:
    assert statuses.is_final(status_id)


@pytest.mark.parametrize("status_id", [None, 1, 2])
def test_queued_and_processing_are_not_final(status_id: int | None) -> None:
    assert not statuses.is_final(status_id)
