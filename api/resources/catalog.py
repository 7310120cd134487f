"""GET /statuses, /languages, /languages/all, /languages/{id} (§3.6, §3.7)."""

from __future__ import annotations

import falcon

from judge.contract import statuses
from judge.contract.languages import LanguageCatalog
from judge.contract.wire import ruby_to_i

from ..errors import set_json


def strip_format(value: str) -> str:
    """Rails routes accept an optional `.json` suffix on the last path segment."""
    return value[:-5] if value.endswith(".json") else value


class Statuses:
    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_json(resp, 200, statuses.as_json())


class Languages:
    """Active languages this server can run, in Judge0's name order: those that passed the
    start-up self-test of some live worker (judge/language_reports.py). Until one worker has
    finished its self-test, the languages whose toolchain is installed on the API's host."""

    def __init__(self, catalog: LanguageCatalog):
        self.catalog = catalog

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_json(resp, 200, [{"id": lang.id, "name": lang.name}
                             for lang in self.catalog.active() if lang.available])


class AllLanguages:
    """Every declared language, archived and unavailable ones included, in name order."""

    def __init__(self, catalog: LanguageCatalog):
        self.catalog = catalog

    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        set_json(resp, 200, [{"id": lang.id, "name": lang.name, "is_archived": lang.is_archived}
                             for lang in self.catalog.all()])


class Language:
    """Judge0's full record of one language, whether or not it is archived or available."""

    def __init__(self, catalog: LanguageCatalog):
        self.catalog = catalog

    async def on_get(self, req: falcon.Request, resp: falcon.Response, language_id: str) -> None:
        language = self.catalog.get(ruby_to_i(strip_format(language_id)))  # "71abc" is 71
        if language is None:
            raise falcon.HTTPNotFound()
        set_json(resp, 200, language.as_json())
