"""A Document as DOCX (python-docx), laid out as the PDF is: the two-column header of Decree 30 (issuing body and
number left; national title, motto and place-date right), the kind and title centred, the body, the recipients
and the signature block, the annex after a page break, the audit anchor in the page footer."""

from __future__ import annotations

import io
from collections.abc import Iterable

from docx import Document as new_document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Cm, Mm, Pt
from docx.table import Table as DocxTable
from docx.table import _Cell
from docx.text.paragraph import Paragraph as DocxParagraph

from documents.model import MOTTO, NATIONAL_TITLE, Align, Block, Document, Paragraph, ParagraphStyle, Signer, Table

FONT = "Times New Roman"
# Where paragraphs and tables go: the document body or a table cell.
Container = DocxDocument | _Cell
ALIGN = {
    Align.LEFT: WD_ALIGN_PARAGRAPH.LEFT,
    Align.CENTER: WD_ALIGN_PARAGRAPH.CENTER,
    Align.RIGHT: WD_ALIGN_PARAGRAPH.RIGHT,
}


def _run(
    paragraph: DocxParagraph,
    text: str,
    *,
    size: float = 13,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
) -> None:
    run = paragraph.add_run(text)
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    run.font.underline = underline
    run.font.name = FONT
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attribute), FONT)


def _para(
    container: Container,
    text: str = "",
    *,
    align: WD_ALIGN_PARAGRAPH | None = None,
    size: float = 13,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    space_after: float = 0,
    first: bool = False,
) -> DocxParagraph:
    """A paragraph in a cell or the document; `first` reuses a cell's empty first paragraph."""
    if first and isinstance(container, _Cell) and not container.paragraphs[0].text:
        paragraph = container.paragraphs[0]
    else:
        paragraph = container.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    paragraph.paragraph_format.space_after = Pt(space_after)
    paragraph.paragraph_format.space_before = Pt(0)
    if text:
        _run(paragraph, text, size=size, bold=bold, italic=italic, underline=underline)
    return paragraph


def _no_borders(table: DocxTable) -> None:
    properties = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    properties.append(borders)


def _rule(cell: _Cell) -> None:
    """The short line under the issuing body (Decree 30: a third to a half of the name's length)."""
    paragraph = _para(cell, "", align=WD_ALIGN_PARAGRAPH.CENTER, size=6)
    _run(paragraph, "\u2500" * 8, size=8)


def _header(document: Container, doc: Document) -> None:
    table = document.add_table(rows=1, cols=2)
    _no_borders(table)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = table.rows[0].cells
    left.width, right.width = Cm(6.5), Cm(9.5)
    center = WD_ALIGN_PARAGRAPH.CENTER
    if doc.issuer.superior:
        _para(left, doc.issuer.superior.upper(), align=center, size=12.5, first=True)
    _para(left, doc.issuer.body.upper(), align=center, size=12.5, bold=True, first=True)
    _rule(left)
    _para(left, doc.number_line, align=center, size=13)
    _para(right, NATIONAL_TITLE, align=center, size=12.5, bold=True, first=True)
    _para(right, MOTTO, align=center, size=13.5, bold=True, underline=True)
    _para(right, "", size=6)
    _para(right, doc.place_date_line, align=center, size=13.5, italic=True)


def _paragraph(document: Container, block: Paragraph) -> None:
    style = block.style
    align = {
        ParagraphStyle.CENTER_BOLD: WD_ALIGN_PARAGRAPH.CENTER,
        ParagraphStyle.CENTER_ITALIC: WD_ALIGN_PARAGRAPH.CENTER,
        ParagraphStyle.HEADING: WD_ALIGN_PARAGRAPH.LEFT,
    }.get(style, WD_ALIGN_PARAGRAPH.JUSTIFY)
    paragraph = _para(document, align=align, space_after=6)
    if style in (ParagraphStyle.BODY, ParagraphStyle.CITATION):
        paragraph.paragraph_format.first_line_indent = Cm(1.27)
    if block.lead:
        _run(paragraph, block.lead + " ", bold=True)
    _run(
        paragraph,
        block.text,
        size=12 if style == ParagraphStyle.NOTE else 13,
        bold=style in (ParagraphStyle.HEADING, ParagraphStyle.CENTER_BOLD),
        italic=style in (ParagraphStyle.CENTER_ITALIC, ParagraphStyle.NOTE, ParagraphStyle.CITATION),
    )


def _table(document: Container, block: Table, width_cm: float) -> None:
    table = document.add_table(rows=1, cols=len(block.headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = block.widths or (1,) * len(block.headers)
    columns = [Cm(width_cm * w / sum(widths)) for w in widths]
    for cell, header, width in zip(table.rows[0].cells, block.headers, columns, strict=True):
        cell.width = width
        _para(cell, header, align=WD_ALIGN_PARAGRAPH.CENTER, size=11.5, bold=True, first=True)
    for index, row in enumerate(block.rows):
        cells = table.add_row().cells
        for column, (cell, value) in enumerate(zip(cells, row, strict=True)):
            cell.width = columns[column]
            align = ALIGN[block.align[column]] if block.align else WD_ALIGN_PARAGRAPH.LEFT
            _para(cell, value, align=align, size=11.5, bold=index in block.emphasised, first=True)
    _para(document, "", size=6)


def _blocks(document: Container, blocks: Iterable[Block], width_cm: float) -> None:
    for block in blocks:
        if isinstance(block, Paragraph):
            _paragraph(document, block)
        elif isinstance(block, Table):
            _table(document, block, width_cm)
        else:
            _para(document).add_run().add_break(WD_BREAK.PAGE)


def _signature(cell: _Cell, signer: Signer) -> None:
    center = WD_ALIGN_PARAGRAPH.CENTER
    if signer.authority:
        _para(cell, signer.authority.upper(), align=center, bold=True, first=True)
    _para(cell, signer.title.upper(), align=center, bold=True, first=True)
    _para(cell, signer.note or "", align=center, size=11.5, italic=True, space_after=24)
    _para(cell, signer.name or "", align=center, bold=True, space_after=12)


def _recipients(cell: Container, recipients: tuple[str, ...]) -> None:
    if not recipients:
        return
    _para(cell, "Nơi nhận:", size=12, bold=True, italic=True, first=True)
    for i, recipient in enumerate(recipients):
        _para(cell, f"- {recipient}{'.' if i == len(recipients) - 1 else ';'}", size=11)


def _closing(document: Container, doc: Document) -> None:
    if len(doc.signers) <= 1:
        table = document.add_table(rows=1, cols=2)
        _no_borders(table)
        left, right = table.rows[0].cells
        _recipients(left, doc.recipients)
        for signer in doc.signers:
            _signature(right, signer)
        return
    columns = 2
    rows = (len(doc.signers) + columns - 1) // columns
    table = document.add_table(rows=rows, cols=columns)
    _no_borders(table)
    for index, signer in enumerate(doc.signers):
        _signature(table.rows[index // columns].cells[index % columns], signer)
    _recipients(document, doc.recipients)


def _footer(section: Section, doc: Document) -> None:
    footer = section.footer
    paragraph = footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(paragraph, doc.anchor_line, size=9)
    _run(paragraph, "\n" + doc.made_line, size=9)


def render(doc: Document) -> bytes:
    document = new_document()
    section = document.sections[0]
    if doc.landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
        section.left_margin, section.right_margin = Mm(22), Mm(20)
        section.top_margin, section.bottom_margin = Mm(30), Mm(20)
    else:
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.left_margin, section.right_margin = Mm(30), Mm(15)
        section.top_margin, section.bottom_margin = Mm(20), Mm(22)
    width_cm = (section.page_width - section.left_margin - section.right_margin) / 360000
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(13)
    _header(document, doc)
    _para(document, doc.kind_vi.upper(), align=WD_ALIGN_PARAGRAPH.CENTER, size=14, bold=True)
    _para(document, doc.title, align=WD_ALIGN_PARAGRAPH.CENTER, size=14, bold=True)
    rule = _para(document, "", align=WD_ALIGN_PARAGRAPH.CENTER, space_after=10)
    _run(rule, "\u2500" * 10, size=8)
    _blocks(document, doc.body, width_cm)
    _closing(document, doc)
    if doc.annex:
        _para(document).add_run().add_break(WD_BREAK.PAGE)
        _blocks(document, doc.annex, width_cm)
    _footer(section, doc)
    document.core_properties.title = f"{doc.kind_vi} – {doc.title}"
    document.core_properties.language = "vi-VN"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
