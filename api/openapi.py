"""The OpenAPI document (api/openapi.yaml), served as /openapi.json with this server's
version filled in. YAML keeps the hand-written description readable; the tests check it
against the code so that it cannot drift (tests/e2e/test_api_docs.py)."""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

from judge.config import Config


@functools.cache
def _document() -> dict[str, Any]:
    text = resources.files("api").joinpath("openapi.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: faster
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def spec(config: Config) -> dict[str, Any]:
    """The document for this server: its Judge0 version, and the authentication header
    names it is configured with."""
    document = copy.deepcopy(_document())
    document["info"]["version"] = config.judge0_version
    schemes = document["components"]["securitySchemes"]
    schemes["authToken"]["name"] = config.authn_header
    schemes["authUser"]["name"] = config.authz_header
    return document
