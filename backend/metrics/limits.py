"""Hard limits on what a metrics export may make the server read, and the checks that run before
anything is decompressed (pure: no database, no processes).

A 1.4 KB XLSX can claim a sheet of A1:XFD1048576 and a 1 MB one can inflate to gigabytes, so the
zip's own directory (member count, declared uncompressed sizes) is checked before openpyxl opens
it; the reader then checks rows, columns and cell sizes as it goes, and the whole parse runs in a
child process with an address-space cap (`backend.metrics.sandbox`) for whatever slips through.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend import i18n

# What a limit is called in the problem body (`limit`), stable for clients.
LIMIT_NAMES = ("rows", "columns", "cell", "shared-strings", "uncompressed", "zip-members", "memory", "time")


@dataclass(frozen=True)
class ImportLimits:
    rows: int = 200_000  # non-blank rows after the header
    columns: int = 256  # exports have 10-60; trailing empty cells do not count
    cell_chars: int = 32_767  # Excel's own limit on one cell's text
    shared_strings_bytes: int = 32 * 1024 * 1024  # xl/sharedStrings.xml, uncompressed
    uncompressed_bytes: int = 256 * 1024 * 1024  # every member of the XLSX together
    zip_members: int = 500  # an export has ~10-20; a sheet per day of a year stays well below
    memory_bytes: int = 1536 * 1024 * 1024  # the parsing child's address space (RLIMIT_AS)
    seconds: float = 120.0  # the parsing child's wall-clock time


DEFAULT_LIMITS = ImportLimits()


class _Worded(ValueError):
    """Raised with `key` (a text of backend/i18n) and its `params`, the message is that text's English."""

    def __init__(self, detail: str | None = None, *, key: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        self.key, self.params = key, dict(params or {})
        super().__init__(detail if detail is not None else i18n.text(key or "", i18n.EN, self.params) or key)


class ExportUnreadable(_Worded):
    """The file as a whole cannot be read (encoding, format, no recognisable header)."""

    peak_rss_bytes: int | None = None  # set when the parse ran in a child: its peak resident memory


class ImportLimitExceeded(_Worded):
    """The export goes past one of `ImportLimits`; `limit` names which (see LIMIT_NAMES)."""

    peak_rss_bytes: int | None = None

    def __init__(
        self, limit: str, maximum: int | float, detail: str | None = None, *, key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, key=key, params=params)
        self.limit = limit
        self.maximum = maximum


_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22


def _declared_member_count(data: bytes) -> int | None:
    """The entry count in the End Of Central Directory record, read without building the directory
    (zipfile.infolist() makes one object per entry: a million tiny entries would be a memory bomb)."""
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - 65_535))
    if at < 0 or len(data) - at < _EOCD_SIZE:
        return None
    _sig, _disk, _cd_disk, _on_disk, total, _size, _offset, _comment = struct.unpack("<4s4H2LH", data[at : at + _EOCD_SIZE])
    return None if total == 0xFFFF else int(total)  # 0xFFFF: a zip64 count follows; zipfile reads it


def check_xlsx_archive(data: bytes, limits: ImportLimits = DEFAULT_LIMITS) -> None:
    """Refuse an XLSX whose zip directory already shows it is too big, before any member is inflated.

    zipfile stops every member at its declared size (a member that inflates further fails its
    CRC), so the declared sizes are a real bound on what openpyxl can be made to read.
    """
    declared = _declared_member_count(data)
    if declared is not None and declared > limits.zip_members:
        raise ImportLimitExceeded("zip-members", limits.zip_members, key="metrics.xlsx-zip-members",
                                  params={"count": declared, "limit": limits.zip_members})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, struct.error) as exc:
        raise ExportUnreadable(key="metrics.xlsx-not-zip", params={"error": str(exc)}) from exc
    if len(members) > limits.zip_members:
        raise ImportLimitExceeded("zip-members", limits.zip_members, key="metrics.xlsx-zip-members",
                                  params={"count": len(members), "limit": limits.zip_members})
    total = 0
    for member in members:
        if member.filename.lower().endswith("sharedstrings.xml") and member.file_size > limits.shared_strings_bytes:
            raise ImportLimitExceeded(
                "shared-strings", limits.shared_strings_bytes, key="metrics.xlsx-shared-strings",
                params={"member": member.filename, "size": member.file_size, "limit": limits.shared_strings_bytes},
            )
        total += member.file_size
    if total > limits.uncompressed_bytes:
        raise ImportLimitExceeded(
            "uncompressed", limits.uncompressed_bytes, key="metrics.xlsx-uncompressed",
            params={"size": total, "limit": limits.uncompressed_bytes},
        )
