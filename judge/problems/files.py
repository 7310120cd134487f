"""A problem's files (a `testlib.h`, a header of the problem's own) as the compiler of its
checker and interactor sees them: Judge0's `additional_files`, a zip extracted next to the
source.

The zip is built deterministically (sorted names, fixed timestamps, fixed attributes,
deflate), so that the compile probe at creation (judge/problems/probe.py) and the worker
later compile the same bytes, and the worker's compilation hits the compile cache the probe
filled (its key includes additional_files).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say
_UNIX = 3  # create_system: the permission bits below are Unix ones
_MODE = 0o100644  # a regular file, rw-r--r--


def files_zip(files: Mapping[str, bytes]) -> bytes | None:
    """The `additional_files` zip of `files` (name -> bytes); None when there are none."""
    if not files:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = _UNIX
            info.external_attr = _MODE << 16
            archive.writestr(info, files[name], compresslevel=6)
    return buffer.getvalue()
