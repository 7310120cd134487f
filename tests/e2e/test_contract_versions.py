"""JUDGE0_VERSION: the Judge0 release whose contract the API serves. 1.14.0, the default (what
ce.judge0.com and RapidAPI serve), adds language ids 90-113; a server set to 1.13.1 answers as
that release does, so clients written against it see what they always saw."""

from __future__ import annotations

from judge.contract.languages import LanguageCatalog

NEW_IDS = set(range(90, 114))
HERE = LanguageCatalog.load()  # what this host has installed


def listed(engine, path: str) -> set[int]:
    return {language["id"] for language in engine.get(path).json()}


def test_the_default_is_todays_judge0_with_its_new_ids(engine):
    assert engine.get("/about").json()["version"] == "1.14.0"
    assert NEW_IDS <= listed(engine, "/languages/all")
    assert engine.get("/languages/105").json()["name"] == "C++ (GCC 12.2.0)"
    # Dart and JavaFX have no Debian package: declared, never offered
    assert {90, 96}.isdisjoint(listed(engine, "/languages"))


def test_a_1_13_1_server_answers_as_that_release(judge0_1_13_engine):
    old = judge0_1_13_engine
    assert old.get("/about").json()["version"] == "1.13.1"
    assert old.get("/version").text == "1.13.1"
    assert old.get("/workers").json()[0]["queue"] == "1.13.1"
    assert listed(old, "/languages/all") == {lang.id for lang in HERE.all()} - NEW_IDS
    assert NEW_IDS.isdisjoint(listed(old, "/languages"))
    assert old.get("/languages/105").status_code == 404
    refused = old.post({"language_id": 105, "source_code": "int main(void) { return 0; }"})
    assert refused.status_code == 422
    assert refused.json() == {"language_id": ["language with id 105 doesn't exist"]}
    accepted = old.run({"language_id": 54, "source_code": "int main() { return 0; }"})
    assert accepted["status"]["id"] == 3
