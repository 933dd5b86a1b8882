"""A Word document from a rendered text template: `#` title, `##`/`###` headings, `|` table rows, `>` places to write,
`=` right-aligned, `<` unindented and `~` centred small lines."""

from __future__ import annotations

import io

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

# The wording lives in templates/*.docx.txt (Jinja2, like every text a person reads); this module only lays it
# out. python-docx rather than docxtpl: the tables grow with the campaign's items, which python-docx builds
# directly, and no binary .docx template has to be kept and diffed in git.
BODY_FONT, HEADING_FONT, TITLE_FONT = "仿宋", "黑体", "宋体"
PLACEHOLDER = "【"


def _east_asian(run, name: str) -> None:
    run.font.name = name
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def new_document() -> Document:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)  # A4
    section.left_margin = section.right_margin = Cm(2.6)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(14)
    normal.font.name = BODY_FONT
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    return doc


def _paragraph(doc, text: str, *, font=BODY_FONT, size=14, bold=False, align=None, indent=True, mark=False):
    p = doc.add_paragraph()
    if align is not None:
        p.alignment = align
    if indent and align is None:
        p.paragraph_format.first_line_indent = Pt(size * 2)  # 首行缩进两字
    run = p.add_run(text)
    _east_asian(run, font)
    run.font.size, run.bold = Pt(size), bold
    if mark:
        run.font.highlight_color = WD_COLOR_INDEX.YELLOW
    return p


def _table(doc, rows: list[list[str]]) -> None:
    table = doc.add_table(rows=len(rows), cols=max(len(r) for r in rows))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            cell = table.cell(i, j)
            cell.text = ""
            run = cell.paragraphs[0].add_run(value)
            _east_asian(run, HEADING_FONT if i == 0 else BODY_FONT)
            run.font.size, run.bold = Pt(11), i == 0
            if i == 0 or j > 0 and len(value) < 8:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def render_docx(text: str, *, title: str = "") -> bytes:
    """Lay out a rendered *.docx.txt template: one element a line; consecutive `|` lines form one table."""
    doc = new_document()
    doc.core_properties.title, doc.core_properties.author = title, "kaohe"
    table: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            table.append(_cells(line))
            continue
        if table:
            _table(doc, table)
            table = []
        _line(doc, line.rstrip())
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _line(doc, line: str) -> None:
    if not line:
        return
    if line.startswith("# "):
        _paragraph(doc, line[2:], font=TITLE_FONT, size=20, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    elif line.startswith("## "):
        _paragraph(doc, line[3:], font=HEADING_FONT, size=15)
    elif line.startswith("### "):
        _paragraph(doc, line[4:], size=14, bold=True)
    elif line.startswith("> "):
        _paragraph(doc, line[2:], mark=True)
    elif line.startswith("= "):
        _paragraph(doc, line[2:], align=WD_ALIGN_PARAGRAPH.RIGHT)
    elif line.startswith("< "):
        _paragraph(doc, line[2:], indent=False)
    elif line.startswith("~ "):
        _paragraph(doc, line[2:], size=12, align=WD_ALIGN_PARAGRAPH.CENTER)
    else:
        _paragraph(doc, line)


def cell_text(value) -> str:
    """A value that may sit in a `|` row: no bar, no line break (a note may hold either)."""
    return " ".join(str(value if value is not None else "").replace("|", "｜").split())
