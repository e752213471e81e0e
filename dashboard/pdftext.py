"""The text pages of a briefing pack, laid out by reportlab: the incident table (its
header row repeated on every page) and the sources cited.

reportlab draws a 10^4-row table in a few seconds, where matplotlib's text engine
needs half a minute. The pages use DejaVu Sans, the font of the map pages, embedded
as a subset; cells are drawn as plain strings (never parsed as markup), and the
sources' text goes through ``Paragraph`` only after XML escaping.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import matplotlib
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Table,
    TableStyle,
)

FONT, BOLD = "FlankwatchSans", "FlankwatchSans-Bold"
MARKING_GREEN = "#1a7f37"
#: Height of a table row (points).
ROW_PT = 9.0
#: Every text keeps this far inside the page's edges (points; 8 mm).
EDGE_PT = 8 / 25.4 * inch
#: The text frame's top and bottom margins (points): the marking, heading and subtitle
#: above it, the marking below it.
TOP_PT, BOTTOM_PT = 1.15 * inch, EDGE_PT + 0.35 * inch


@lru_cache(maxsize=1)
def _register_fonts() -> None:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(folder / "DejaVuSans-Bold.ttf")))


class _Mark(Flowable):
    """Records the page it lands on (where the sources begin)."""

    def __init__(self, found: dict) -> None:
        super().__init__()
        self.found = found

    def wrap(self, *_):
        return 0, 0

    def draw(self) -> None:
        self.found.setdefault("page", self.canv.getPageNumber())


def rows_per_page(page_size_in: tuple[float, float]) -> int:
    """How many incident rows one table page holds (its header row aside)."""
    frame_height = page_size_in[1] * inch - TOP_PT - BOTTOM_PT - 12  # the frame's padding
    return max(int(frame_height / ROW_PT) - 1, 1)


def _numbering_canvas(number_of, marking: str, heading_of, subtitle: str, progress):
    """A canvas that holds each page until the end, then writes the marking, the
    heading and "n / N" (N known only once every page is laid out); ``progress`` (or
    None) is told of each page laid out."""

    class NumberedCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            # the embedded font from the first operator on (never the unembedded
            # Helvetica reportlab starts each page with)
            super().__init__(*args, **{**kwargs, "initialFontName": FONT})
            self._held = []

        def showPage(self):  # noqa: N802 (reportlab's name)
            self._held.append(dict(self.__dict__))
            self._startPage()
            if progress is not None:
                progress(len(self._held))

        def save(self):
            count = len(self._held)
            for state in self._held:
                self.__dict__.update(state)
                n, total = number_of(self._pageNumber, count)
                self._furniture(n, total, heading_of(self._pageNumber))
                super().showPage()
            super().save()

        def _furniture(self, n: int, total: int, heading: str) -> None:
            width, height = self._pagesize
            left = max(0.04 * width, EDGE_PT)
            self.setFont(BOLD, 12)
            self.drawString(left, height - TOP_PT + 0.33 * inch, heading)
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#444444"))
            self.drawString(left, height - TOP_PT + 0.15 * inch, subtitle)
            self.setFillColor(colors.black)
            self.setFont(FONT, 8)
            self.drawRightString(width - EDGE_PT, height - TOP_PT + 0.33 * inch,
                                 f"{n} / {total}")
            if marking:  # its green box (3 pt around the text) 8 mm inside the edge
                for y in (height - EDGE_PT - 11, EDGE_PT + 3):
                    text_width = pdfmetrics.stringWidth(marking, BOLD, 10)
                    self.setFillColor(colors.HexColor(MARKING_GREEN))
                    self.rect((width - text_width) / 2 - 4, y - 3, text_width + 8, 14,
                              stroke=0, fill=1)
                    self.setFillColor(colors.white)
                    self.setFont(BOLD, 10)
                    self.drawCentredString(width / 2, y, marking)
                    self.setFillColor(colors.black)

    return NumberedCanvas


def _fit(text: str, width_pt: float, size: float = 7.5) -> str:
    """``text`` cut (with "…") to fit ``width_pt`` at ``size`` points."""
    while text and pdfmetrics.stringWidth(text, FONT, size) > width_pt:
        text = text[: int(len(text) * 0.9)].rstrip() + "…"
    return text


def text_pages(*, page_size_in: tuple[float, float], marking: str, subtitle: str,
               columns: list[tuple[str, float]], rows: list[list[str]],
               sources: list[tuple[str, str | None]], page_offset: int,
               pages_between: int, pages_after_sources: int = 0,
               progress=None) -> tuple[bytes, int, int]:
    """Lay out the table and the sources; returns the PDF and its numbers of table and
    source pages. ``columns``: (heading, share of the page width); ``sources``: (text,
    address or None). Page numbers count ``page_offset`` pages before the table and
    ``pages_between`` between the table and the sources. ``progress(n)``, if given, is
    called as the n-th page is laid out."""
    _register_fonts()
    width, height = page_size_in[0] * inch, page_size_in[1] * inch
    found: dict = {}

    def number_of(page: int, count: int) -> tuple[int, int]:
        first_source = found.get("page", count + 1)
        n = page + page_offset + (pages_between if page >= first_source else 0)
        return n, count + page_offset + pages_between + pages_after_sources

    def heading_of(page: int) -> str:
        return ("Sources cited" if page >= found.get("page", 10**9)
                else "Incidents of the selection")

    buffer = io.BytesIO()
    side = max(0.04 * width, EDGE_PT)
    doc = SimpleDocTemplate(buffer, pagesize=(width, height), leftMargin=side,
                            rightMargin=side, topMargin=TOP_PT, bottomMargin=BOTTOM_PT,
                            title="Briefing pack", creator="Flankwatch")
    body = ParagraphStyle("body", fontName=FONT, fontSize=7.5, leading=10, leftIndent=14,
                          firstLineIndent=-14, spaceAfter=3)
    usable = width - 2 * side
    per_page = rows_per_page(page_size_in)
    header = [h for h, _ in columns]
    style = TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 6.5),
        ("FONT", (0, 0), (-1, 0), BOLD, 6.5),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor("#333333")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f0f0f0")]),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (4, 0), (5, -1), "RIGHT"),
    ])
    # one table per page, each with its header: reportlab splits a long table again and
    # again (time grows with the square of its rows); pages of fixed-height rows do not
    story = []
    for start in range(0, max(len(rows), 1), per_page):
        chunk = rows[start:start + per_page]
        story += [Table([header, *chunk], colWidths=[usable * share for _, share in columns],
                        rowHeights=ROW_PT, style=style), PageBreak()]
    story += [_Mark(found)]
    for text, address in sources:
        line = escape(text)
        if address:
            line += (f' · <link href={quoteattr(address)} color="#1f4e9a">'
                     f"{escape(address)}</link>")
        story.append(Paragraph(line, body))
    if not sources:
        story.append(Paragraph("No source is cited by the incidents of the selection.", body))
    doc.build(story, canvasmaker=_numbering_canvas(number_of, marking.upper(), heading_of,
                                                   _fit(subtitle, width - 2 * side),
                                                   progress))
    first_source = found["page"]
    from pypdf import PdfReader

    count = len(PdfReader(io.BytesIO(buffer.getvalue())).pages)
    return buffer.getvalue(), first_source - 1, count - first_source + 1
