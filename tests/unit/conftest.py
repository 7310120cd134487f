"""Fixtures for the pure unit tests: a default configuration and a language catalog that does
not depend on which toolchains this host has."""

from __future__ import annotations

from dataclasses import replace

import pytest

from judge.config import Config
from judge.contract.languages import LanguageCatalog


@pytest.fixture
def config() -> Config:
    """Judge0's defaults (plus ours), whatever the test runner's environment holds."""
    return Config.load(environ={})


@pytest.fixture(scope="session")
def catalog() -> LanguageCatalog:
    """The shipped languages.yml with every active language marked available."""
    loaded = LanguageCatalog.load(detect_available=False)
    return LanguageCatalog(replace(language, available=not language.is_archived)
                           for language in loaded.all())
