"""Workbooks: the layout shared by the template and the export, and the template's
Instructions and Countries sheets.

Row 1 of every agreements sheet holds the English column names (what import reads), row 2
the Thai names; data starts on row 3. The template's example row lives on its "Instructions"
sheet, written down the page, so it can never be imported by mistake.

openpyxl is imported inside the functions that use it: it is slow to load, and this package
is also loaded by commands that never write a workbook.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from scheduler.registry.domain import AgreementKind, Level
from scheduler.sheets.columns import (
    AGREEMENT_KEYS,
    ALL_COLUMNS,
    COLUMN,
    COLUMNS,
    COUNTRIES_SHEET,
    INSTRUCTIONS_SHEET,
    NO_GROUP_SHEET,
    ORDER,
    REQUIRED,
    SHEET_NAME,
    Column,
    letter,
)
from scheduler.sheets.countries import country_choices
from scheduler.sheets.exporting import ExportSheet

TEMPLATE_ROWS = 1000  # rows of the template that carry drop-downs

_HEADER_FILL = "1F4E78"
_THAI_FILL = "DDEBF7"
_EXTRA_HEADER_FILL = "7F7F7F"
_EXTRA_FILL = "F2F2F2"
_DATE_FORMAT = "yyyy-mm-dd"
_DATE_KEYS = ("signed_on", "expires_on", "last_activity")


def _write_header(ws: Any, columns: Sequence[Column]) -> None:
    """Row 1: the English names (what import reads); row 2: the Thai names."""
    from openpyxl.styles import Alignment, Font, PatternFill

    for i, column in enumerate(columns, 1):
        extra = column.key not in AGREEMENT_KEYS
        top = ws.cell(row=1, column=i, value=column.en)
        top.font = Font(bold=True, color="FFFFFF")
        top.fill = PatternFill("solid", fgColor=_EXTRA_HEADER_FILL if extra else _HEADER_FILL)
        thai = ws.cell(row=2, column=i, value=column.th)
        thai.font = Font(italic=True, color="1F1F1F")
        thai.fill = PatternFill("solid", fgColor=_EXTRA_FILL if extra else _THAI_FILL)
        for cell in (top, thai):
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        dimensions = ws.column_dimensions[letter(i - 1)]
        dimensions.width = column.width
        if column.key in _DATE_KEYS:
            dimensions.number_format = _DATE_FORMAT
    ws.freeze_panes = "A3"
    ws.row_dimensions[1].height = 20
    ws.row_dimensions[2].height = 20


def _validations(ws: Any, last_row: int, country_list: str | None) -> None:
    """Drop-downs for kind and level (and country, from the hidden list, in the template), and
    hints on the date cells."""
    from openpyxl.worksheet.datavalidation import DataValidation

    def cells(key: str) -> str:
        column = letter(ORDER[key])
        return f"{column}3:{column}{last_row}"

    kinds = ",".join(kind.label for kind in AgreementKind)
    levels = ",".join(lv.value for lv in Level)
    specs: list[tuple[str, DataValidation]] = [
        ("kind", DataValidation(type="list", formula1=f'"{kinds}"', allow_blank=True,
                                errorTitle="kind / ประเภท", error=f"Choose one of: {kinds}")),
        ("level", DataValidation(type="list", formula1=f'"{levels}"', allow_blank=True,
                                 errorTitle="level / ระดับ", error=f"Choose one of: {levels}")),
    ]
    if country_list:
        specs.append(("country", DataValidation(
            type="list", formula1=country_list, allow_blank=True, errorStyle="warning",
            errorTitle="country / ประเทศ",
            error="Not in the list: an ISO code (JP) or an English name (Japan) also works.",
        )))
    for key in ("signed_on", "expires_on"):
        specs.append((key, DataValidation(
            allow_blank=True, promptTitle=f"{COLUMN[key].en} / {COLUMN[key].th}",
            prompt="2017-08-22 (ค.ศ./CE) or 22/08/2560 (วัน/เดือน/พ.ศ.)")))
    for key, validation in specs:
        validation.showErrorMessage = validation.type == "list"
        validation.showInputMessage = True
        validation.add(cells(key))
        ws.add_data_validation(validation)


def _save(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _set(ws: Any, row: int, column: int, value: Any) -> Any:
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text that starts with "=" stays text, never a formula
    return cell


def export_workbook(sheets: Sequence[ExportSheet]) -> bytes:
    """The export as .xlsx bytes: a sheet per ExportSheet (an empty "No group" sheet when
    there is none), read-only columns greyed, drop-downs on kind and level."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    workbook = Workbook()
    workbook.remove(workbook.active)
    extra_fill = PatternFill("solid", fgColor=_EXTRA_FILL)
    grey = Font(color="595959")
    for sheet in sheets or [ExportSheet(NO_GROUP_SHEET, None, ())]:
        ws = workbook.create_sheet(sheet.title)
        _write_header(ws, ALL_COLUMNS)
        for r, row in enumerate(sheet.rows, 3):
            for c, value in enumerate(row.values(), 1):
                cell = _set(ws, r, c, value)
                if isinstance(value, dt.date):
                    cell.number_format = _DATE_FORMAT
                if c > len(COLUMNS):
                    cell.fill, cell.font = extra_fill, grey
        last = 2 + len(sheet.rows)
        ws.auto_filter.ref = f"A2:{letter(len(ALL_COLUMNS) - 1)}{max(last, 2)}"
        _validations(ws, last + 200, None)
    return _save(workbook)


INSTRUCTIONS_EN = (
    "Write one row per agreement (MOU, LOI, sister-city or friendship) that your organisation "
    "signed with a foreign partner, on the sheet \"Agreements\", from row 3.",
    "Keep the two header rows (English, Thai). Columns may be moved, not renamed.",
    "Required: local party, partner name (English), country, kind, signed on.",
    "Dates: 2017-08-22 (Common Era) or 22/08/2560 (day/month/Buddhist Era year).",
    "Country: pick from the list, or type an ISO code (JP) or an English name (Japan, Korea, "
    "Turkey).",
    "Areas of cooperation: separate them with semicolons, e.g. education; tourism.",
    "The example below only shows how to fill in a row; it is not imported.",
    "Return the file to the international affairs unit, which imports it with "
    "`sistercity import`.",
)
INSTRUCTIONS_TH = (
    "กรอกหนึ่งแถวต่อหนึ่งข้อตกลง (MOU, LOI, เมืองพี่เมืองน้อง หรือความสัมพันธ์ฉันมิตร) ที่หน่วยงาน"
    "ของท่านลงนามกับคู่ภาคีต่างประเทศ ในแผ่นงาน \"Agreements\" ตั้งแต่แถวที่ 3",
    "อย่าลบหัวตารางสองแถวแรก (อังกฤษ ไทย) ย้ายลำดับคอลัมน์ได้ แต่ห้ามเปลี่ยนชื่อคอลัมน์",
    "ช่องที่ต้องกรอก: หน่วยงานที่ลงนาม ชื่อคู่ภาคี (อังกฤษ) ประเทศ ประเภทข้อตกลง วันที่ลงนาม",
    "วันที่: 2017-08-22 (ค.ศ.) หรือ 22/08/2560 (วัน/เดือน/ปี พ.ศ.)",
    "ประเทศ: เลือกจากรายการ หรือพิมพ์รหัส ISO (เช่น JP) หรือชื่อภาษาอังกฤษ (เช่น Japan, Korea)",
    "ด้านความร่วมมือ: คั่นแต่ละด้านด้วยเครื่องหมาย ; เช่น education; tourism",
    "ตัวอย่างด้านล่างแสดงวิธีกรอกเท่านั้น จะไม่ถูกนำเข้า",
    "ส่งไฟล์ที่กรอกแล้วคืนฝ่ายการต่างประเทศ",
)


def template_workbook() -> bytes:
    """The empty template as .xlsx bytes: the "Agreements" sheet with both header rows and
    drop-downs on TEMPLATE_ROWS rows, the "Instructions" sheet, and the hidden country list."""
    from openpyxl import Workbook

    workbook = Workbook()
    ws = workbook.active
    ws.title = SHEET_NAME
    _write_header(ws, COLUMNS)
    _write_instructions(workbook.create_sheet(INSTRUCTIONS_SHEET))
    count = _write_countries(workbook.create_sheet(COUNTRIES_SHEET))
    country_list = f"{COUNTRIES_SHEET}!$C$2:$C${count + 1}"
    _validations(ws, TEMPLATE_ROWS + 2, country_list)
    workbook.active = 0
    return _save(workbook)


def _write_countries(ws: Any) -> int:
    from openpyxl.styles import Font

    for c, title in enumerate(("code", "English name", "choice", "ชื่อภาษาไทย"), 1):
        ws.cell(row=1, column=c, value=title).font = Font(bold=True)
    choices = country_choices()
    for r, (code, name_en, name_th) in enumerate(choices, 2):
        for c, value in enumerate((code, name_en, f"{name_en} ({code})", name_th), 1):
            ws.cell(row=r, column=c, value=value)
    ws.column_dimensions["B"].width = ws.column_dimensions["C"].width = 34
    ws.sheet_state = "hidden"
    return len(choices)


def _write_instructions(ws: Any) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws.cell(row=1, column=1, value="Agreements with foreign partners / ข้อตกลงกับคู่ภาคีต่างประเทศ"
            ).font = Font(bold=True, size=14)
    row = 3
    for english, thai in zip(INSTRUCTIONS_EN, INSTRUCTIONS_TH, strict=True):
        ws.cell(row=row, column=1, value=english).alignment = Alignment(wrap_text=True)
        ws.cell(row=row, column=3, value=thai).alignment = Alignment(wrap_text=True)
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        ws.merge_cells(start_row=row, start_column=3, end_row=row, end_column=5)
        # Merged cells do not grow to fit: about 45 characters a line over these widths.
        ws.row_dimensions[row].height = 16 * (1 + max(len(english), len(thai)) // 45)
        row += 1
    row += 1
    titles = ("column", "คอลัมน์", "required / จำเป็น", "what to write", "example / ตัวอย่าง")
    for c, title in enumerate(titles, 1):
        cell = ws.cell(row=row, column=c, value=title)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor=_HEADER_FILL)
    # The example runs down the page, one column per line, so no row of this sheet looks like
    # a header followed by data: import never picks it up.
    for column in COLUMNS:
        row += 1
        required = "yes / ใช่" if column.key in REQUIRED else ""
        for c, value in enumerate((column.en, column.th, required, column.hint, column.example), 1):
            ws.cell(row=row, column=c, value=value).alignment = Alignment(wrap_text=True,
                                                                         vertical="top")
    for name, width in zip("ABCDE", (26, 26, 16, 48, 28), strict=True):
        ws.column_dimensions[name].width = width
