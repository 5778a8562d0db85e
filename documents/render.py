"""A Document as HTML (Jinja2, the package's template), PDF (WeasyPrint from that HTML) and DOCX (docx.py).

WeasyPrint needs Pango from the system (Debian: libpango-1.0-0, libpangoft2-1.0-0) and fonts that carry
Vietnamese (fonts-liberation2: Liberation Serif, metric-compatible with Times New Roman; fonts-dejavu-core)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from jinja2 import Environment, StrictUndefined, select_autoescape

from documents.model import MOTTO, NATIONAL_TITLE, Document


@cache
def _environment() -> Environment:
    from jinja2 import FunctionLoader

    def load(name: str) -> str:
        return resources.files("documents").joinpath("templates", name).read_text(encoding="utf-8")

    return Environment(
        loader=FunctionLoader(load),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(doc: Document) -> str:
    css = resources.files("documents").joinpath("templates", "document.css").read_text(encoding="utf-8")
    template = _environment().get_template("document.html")
    return template.render(doc=doc, css=css, national_title=NATIONAL_TITLE, motto=MOTTO)


def render_pdf(doc: Document) -> bytes:
    from weasyprint import HTML

    pdf = HTML(string=render_html(doc)).write_pdf()
    assert pdf is not None  # no target given: the bytes are returned
    return bytes(pdf)


def render_docx(doc: Document) -> bytes:
    from documents.docx import render

    return render(doc)
