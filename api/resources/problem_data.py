"""GET /problems/{slug} with test data: the JSON streamed as it is read from PostgreSQL, a
chunk of one file at a time, so a large test set never sits whole in the API's memory.

Plain text (no base64_encoded=true) must be UTF-8, and the answer cannot turn into a 400
once its first bytes are sent: the files to show are read once before, to check them.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from judge.contract.problem_view import NOT_TEXT, Encoder, NotText, case_head, shows_data
from judge.store.problems import AsyncProblemStore, Case


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def check_text(store: AsyncProblemStore, digests: Iterable[str]) -> None:
    """NotText unless every one of the files is UTF-8."""
    for digest in dict.fromkeys(digests):
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            async for chunk in store.chunks(digest):
                decoder.decode(chunk)
            decoder.decode(b"", True)
        except UnicodeDecodeError:
            raise NotText(NOT_TEXT) from None


async def body(store: AsyncProblemStore, document: dict[str, Any], cases: Iterable[Case],
               authorized: bool, base64_encoded: bool) -> AsyncIterator[bytes]:
    """`document` (problem_view.document) with the cases' stdin and expected_output where
    the client may see them."""
    head = {key: value for key, value in document.items() if key != "test_cases"}
    yield (_json(head)[:-1] + ',"test_cases":[').encode()
    for position, case in enumerate(cases):
        meta = ("," if position else "") + _json(case_head(case))
        if not shows_data(case, authorized):
            yield meta.encode()
            continue
        yield (meta[:-1] + ',"stdin":"').encode()
        async for piece in _encoded(store, case.input_hash, base64_encoded):
            yield piece
        yield b'","expected_output":"'
        async for piece in _encoded(store, case.output_hash, base64_encoded):
            yield piece
        yield b'"}'
    yield b"]}"


async def _encoded(store: AsyncProblemStore, digest: str,
                   base64_encoded: bool) -> AsyncIterator[bytes]:
    encoder = Encoder(base64_encoded)
    async for chunk in store.chunks(digest):
        yield encoder.feed(chunk)
    yield encoder.end()
