"""judge.store.submissions against a real PostgreSQL: migrations and the submission lifecycle."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from judge.store.submissions import COLUMNS, Storage, available_migrations

NOT_UTF8 = b"\xff\xfe\x00caf\xe9\x80\n\x00"  # latin-1, a lone continuation byte, NULs


def new_row(**overrides: Any) -> dict[str, Any]:
    row = {"token": str(uuid.uuid4()), "language_id": 71, "source_code": b"print(1)\n",
           "cpu_time_limit": Decimal("5"), "memory_limit": 128000}
    return {**row, **overrides}


@pytest.fixture
def add(clean_db: Storage) -> Callable[..., dict[str, Any]]:
    """Insert a submission built from ``new_row(**overrides)``; returns what was inserted."""

    def insert(**overrides: Any) -> dict[str, Any]:
        row = new_row(**overrides)
        clean_db.insert_submission(row)
        return row

    return insert


# -- migrations --------------------------------------------------------------------------------


@pytest.fixture
def empty_schema_url(database_url: str) -> Iterator[str]:
    """A DSN whose tables land in a new, empty schema: a database that was never migrated."""
    schema = f"migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(database_url, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_migrate_applies_every_migration_once_then_has_nothing_to_do(empty_schema_url: str):
    versions = [migration.version for migration in available_migrations()]
    with Storage(empty_schema_url, max_size=1) as storage:
        assert storage.applied_versions() == []
        assert [m.version for m in storage.migrate()] == versions
        assert storage.migrate() == []
        assert storage.applied_versions() == versions


def test_two_processes_migrating_at_once_apply_each_migration_exactly_once(empty_schema_url: str):
    start = threading.Barrier(2)

    def migrate() -> list[int]:
        with Storage(empty_schema_url, max_size=1, open=False) as storage:
            storage.open(wait=True, timeout=10)
            start.wait()
            return [migration.version for migration in storage.migrate()]

    with ThreadPoolExecutor(2) as pool:
        results = [future.result() for future in [pool.submit(migrate) for _ in range(2)]]
    expected = [migration.version for migration in available_migrations()]
    assert sorted(results[0] + results[1]) == sorted(expected)
    with Storage(empty_schema_url, max_size=1) as storage:
        assert storage.applied_versions() == expected


def test_migration_files_are_numbered_from_one_without_gaps():
    versions = [migration.version for migration in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_columns_constant_names_exactly_the_table_columns_but_id(storage: Storage):
    with storage.pool.connection() as conn:
        rows = conn.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() "
                            "AND table_name = 'submissions'").fetchall()
    assert {row["column_name"] for row in rows} == {"id", *COLUMNS}
    assert len(COLUMNS) == len(set(COLUMNS))


def test_every_stored_judge0_attribute_is_a_column():
    from judge.contract.submission.fields import ATTRIBUTES

    virtual = {"status", "language"}
    assert [name for name in ATTRIBUTES if name not in virtual] == \
        [name for name in COLUMNS if name in ATTRIBUTES]


# -- insert and read ---------------------------------------------------------------------------


def test_text_attributes_round_trip_as_raw_bytes_even_when_not_utf8(clean_db: Storage, add):
    archive = bytes(range(256))
    row = add(source_code=NOT_UTF8, stdin=b"", expected_output=NOT_UTF8 * 3,
              additional_files=archive, compiler_options="-O2", message="caf\u00e9")
    stored = clean_db.get_submission(row["token"])
    assert stored["source_code"] == NOT_UTF8
    assert stored["stdin"] == b""
    assert stored["expected_output"] == NOT_UTF8 * 3
    assert stored["additional_files"] == archive
    assert stored["compiler_options"] == "-O2"
    assert stored["message"] == "caf\u00e9"


def test_a_new_submission_gets_column_defaults(clean_db: Storage, add):
    before = dt.datetime.now(dt.UTC)
    stored = clean_db.get_submission(add()["token"])
    assert set(stored) == set(COLUMNS)
    assert stored["status_id"] == 1
    assert stored["created_at"] >= before - dt.timedelta(seconds=5)
    assert stored["updated_at"] is not None
    assert stored["callback_attempts"] == 0
    assert stored["stdout"] is None and stored["finished_at"] is None


def test_values_keep_their_types(clean_db: Storage, add):
    row = add(cpu_time_limit=Decimal("2.5"), wall_time_limit=Decimal("10"), memory_limit=2048,
              enable_network=False, redirect_stderr_to_stdout=True)
    stored = clean_db.get_submission(row["token"])
    assert stored["token"] == row["token"] and isinstance(stored["token"], str)
    assert stored["cpu_time_limit"] == Decimal("2.5")
    assert stored["wall_time_limit"] == Decimal("10")
    assert stored["memory_limit"] == 2048
    assert stored["enable_network"] is False and stored["redirect_stderr_to_stdout"] is True


def test_inserting_an_unknown_column_is_refused_before_reaching_the_database(clean_db: Storage):
    with pytest.raises(ValueError, match="stdout_text"):
        clean_db.insert_submission(new_row(stdout_text=b"x"))


def test_inserting_the_same_token_twice_fails(clean_db: Storage, add):
    row = add()
    with pytest.raises(psycopg.errors.UniqueViolation):
        clean_db.insert_submission(new_row(token=row["token"]))


@pytest.mark.parametrize("token", [str(uuid.uuid4()), "", " x", "not-a-uuid", None])
def test_unknown_or_malformed_token_is_not_found(clean_db: Storage, token):
    assert clean_db.get_submission(token) is None


@pytest.mark.parametrize("spelling", [str.upper, lambda t: f"urn:uuid:{t}", lambda t: f" {t}",
                                      lambda t: t.replace("-", "")])
def test_only_the_canonical_spelling_of_a_token_finds_it(clean_db: Storage, add, spelling):
    token = add()["token"]
    assert clean_db.get_submission(spelling(token)) is None
    assert clean_db.get_many([spelling(token)]) == [None]
    assert clean_db.get_submission(token) is not None


def test_get_many_answers_in_token_order_with_none_for_unknown_tokens(clean_db: Storage, add):
    first, second = add()["token"], add()["token"]
    unknown = str(uuid.uuid4())
    rows = clean_db.get_many([second, unknown, first, "", second, " " + first])
    assert [row and row["token"] for row in rows] == [second, None, first, None, second, None]


def test_get_many_of_nothing_known_is_all_none(clean_db: Storage):
    assert clean_db.get_many(["", "nope"]) == [None, None]
    assert clean_db.get_many([]) == []


# -- listing -----------------------------------------------------------------------------------


def test_list_pages_newest_first_with_the_total_count(clean_db: Storage, add):
    base = dt.datetime(2024, 4, 3, 5, 40, 51, tzinfo=dt.UTC)
    tokens = [add(created_at=base + dt.timedelta(seconds=i))["token"] for i in range(5)]
    newest_first = tokens[::-1]

    pages = [clean_db.list_submissions(page, per_page=2) for page in (1, 2, 3, 4)]

    assert [[row["token"] for row in rows] for rows, _ in pages] == \
        [newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    assert {total for _, total in pages} == {5}


def test_list_orders_equal_timestamps_by_insertion(clean_db: Storage, add):
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    tokens = [add(created_at=moment)["token"] for _ in range(3)]
    rows, total = clean_db.list_submissions(1, 10)
    assert [row["token"] for row in rows] == tokens[::-1] and total == 3


def test_list_of_an_empty_table(clean_db: Storage):
    assert clean_db.list_submissions(1, 20) == ([], 0)


@pytest.mark.parametrize(("page", "per_page"), [(0, 20), (1, 0), (-1, 5)])
def test_list_refuses_pages_that_do_not_exist(clean_db: Storage, page, per_page):
    with pytest.raises(ValueError):
        clean_db.list_submissions(page, per_page)


# -- the worker's state changes ----------------------------------------------------------------


def accepted(**extra: Any) -> dict[str, Any]:
    return {"status_id": 3, "stdout": b"1\n", "time": Decimal("0.002"), "memory": 380,
            "exit_code": 0, "wall_time": Decimal("0.011"), **extra}


def test_finish_stores_the_verdict(clean_db: Storage, add):
    token = add()["token"]
    assert clean_db.finish_submission(token, accepted(stderr=NOT_UTF8)) is True
    stored = clean_db.get_submission(token)
    assert (stored["status_id"], stored["stdout"], stored["stderr"]) == (3, b"1\n", NOT_UTF8)
    assert (stored["time"], stored["wall_time"]) == (Decimal("0.002"), Decimal("0.011"))
    assert stored["finished_at"] is not None


def test_finishing_twice_changes_nothing_the_second_time(clean_db: Storage, add):
    token = add()["token"]
    assert clean_db.finish_submission(token, accepted()) is True
    first = clean_db.get_submission(token)
    again = {"status_id": 13, "message": "duplicate job", "stdout": None}
    assert clean_db.finish_submission(token, again) is False
    assert clean_db.get_submission(token) == first


def test_two_workers_finishing_at_once_store_exactly_one_verdict(clean_db: Storage, add):
    token = add()["token"]
    start = threading.Barrier(2)

    def finish(status_id: int) -> bool:
        start.wait()
        return clean_db.finish_submission(token, accepted(status_id=status_id))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(finish, (3, 4)))
    assert sorted(results) == [False, True]
    winner = (3, 4)[results.index(True)]
    assert clean_db.get_submission(token)["status_id"] == winner


def test_finish_keeps_a_given_finished_at(clean_db: Storage, add):
    token = add()["token"]
    moment = dt.datetime(2024, 4, 3, 5, 40, 51, 306000, tzinfo=dt.UTC)
    clean_db.finish_submission(token, accepted(finished_at=moment))
    assert clean_db.get_submission(token)["finished_at"] == moment


@pytest.mark.parametrize("values", [{}, {"status_id": 1}, {"status_id": 2}])
def test_finish_refuses_values_without_a_final_status(clean_db: Storage, add, values):
    token = add()["token"]
    with pytest.raises(ValueError, match="final status_id"):
        clean_db.finish_submission(token, values)


def test_finish_refuses_to_change_the_token(clean_db: Storage, add):
    token = add()["token"]
    with pytest.raises(ValueError, match="token"):
        clean_db.finish_submission(token, accepted(token=str(uuid.uuid4())))


def test_updates_move_updated_at_forward(clean_db: Storage, add):
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    token = add(updated_at=old)["token"]
    clean_db.finish_submission(token, accepted())
    assert clean_db.get_submission(token)["updated_at"] > old


def test_delete_removes_a_finished_submission_and_returns_it(clean_db: Storage, add):
    token = add(status_id=6, compile_output=b"error")["token"]
    deleted = clean_db.delete_submission(token)
    assert deleted["token"] == token and deleted["compile_output"] == b"error"
    assert clean_db.get_submission(token) is None
    assert clean_db.delete_submission(token) is None


@pytest.mark.parametrize("status_id", [1, 2])
def test_delete_never_removes_a_submission_in_queue_or_processing(clean_db: Storage, add,
                                                                  status_id):
    token = add(status_id=status_id)["token"]
    assert clean_db.delete_submission(token) is None
    assert clean_db.get_submission(token) is not None


def test_count_pending_counts_only_submissions_waiting_for_a_worker(clean_db: Storage, add):
    for status_id in (1, 1, 2, 3, 6, 13):
        add(status_id=status_id)
    assert clean_db.count_pending() == 2
