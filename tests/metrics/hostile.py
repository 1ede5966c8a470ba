"""Builders of hostile metrics exports (issue 16): each is small on the wire and would be huge, slow or
unreadable once opened. Used by tests/metrics/test_hostile_files.py and bench/hostile_imports.py."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

HEADER = "作品ID,作品标题,播放量,点赞数"

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/></Relationships>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _sheet(dimension: str, rows: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {_NS}>'
            f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>')


def _header_row() -> str:
    cells = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>'
                    for col, name in zip("ABCD", HEADER.split(","), strict=True))
    return f'<row r="1">{cells}</row>'


def _xlsx(sheet: str, shared_strings: str | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml", shared_strings or f'<sst {_NS} count="0" uniqueCount="0"/>')
        for name, body in (extra or {}).items():
            z.writestr(name, body)
    return buf.getvalue()


def dimension_bomb() -> bytes:
    """~1.5 KB: <dimension> A1:XFD1048576, a header, one row, a cell in the far corner."""
    rows = (_header_row() + '<row r="2"><c r="A2" t="inlineStr"><is><t>7300000000000000001</t></is></c>'
            '<c r="C2"><v>100</v></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    return _xlsx(_sheet("A1:XFD1048576", rows))


def row_past_excel() -> bytes:
    """A header and one row numbered 5,000,000: Excel stops at 1,048,576; openpyxl would yield every
    empty row in between."""
    return _xlsx(_sheet("A1:D1", _header_row() + '<row r="5000000"><c r="A5000000"><v>1</v></c></row>'))


def huge_shared_string(size: int = 300 * 1024 * 1024) -> bytes:
    """One shared string of `size` characters (deflates to ~0.1 % of it), streamed into the zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", _sheet("A1:D2", _header_row() + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'))
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(f'<sst {_NS} count="1" uniqueCount="1"><si><t>'.encode())
            chunk = b"A" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                out.write(chunk)
            out.write(b"</t></si></sst>")
    return buf.getvalue()


def zip_bomb_member(size: int = 300 * 1024 * 1024) -> bytes:
    """A valid little workbook plus one member that inflates to `size` bytes of zeros."""
    buf = io.BytesIO(_xlsx(_sheet("A1:D1", _header_row())))
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/media/image1.bin", "w", force_zip64=True) as out:
        chunk = bytes(1024 * 1024)
        for _ in range(size // len(chunk)):
            out.write(chunk)
    return buf.getvalue()


def many_members(count: int = 5000) -> bytes:
    return _xlsx(_sheet("A1:D1", _header_row()), extra={f"xl/customXml/item{i}.xml": b"<a/>" for i in range(count)})


def csv_huge_field(size: int = 45 * 1024 * 1024) -> bytes:
    """A header, then an opening quote that never closes: the rest of the file is one field."""
    return (HEADER + "\n7300000000000000001,\"").encode() + b"x" * size + b"\n"


def csv_invalid_utf8() -> bytes:
    """UTF-8 Chinese text with one byte cut out of a character (a spliced download)."""
    good = (HEADER + "\n7300000000000000001,双十一直播切片,100,5\n").encode()
    cut = good.index("直".encode())
    return good[:cut] + good[cut + 1 :]


def nested_json(depth: int = 100_000) -> bytes:
    return b'{"snapshots":' + b"[" * depth + b"]" * depth + b"}"


def write_all(folder: Path) -> dict[str, Path]:
    """Every hostile file in `folder` (bench helper)."""
    made = {
        "dimension-bomb.xlsx": dimension_bomb(), "huge-shared-string.xlsx": huge_shared_string(),
        "zip-bomb-member.xlsx": zip_bomb_member(), "many-members.xlsx": many_members(),
        "huge-field.csv": csv_huge_field(), "invalid-utf8.csv": csv_invalid_utf8(),
    }
    out = {}
    for name, data in made.items():
        (folder / name).write_bytes(data)
        out[name] = folder / name
    return out
