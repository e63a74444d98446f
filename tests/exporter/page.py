"""Reads the exporter's landing page the way a person does: the counts at the top and
each table's rows as lists of cell texts."""

from __future__ import annotations

from html.parser import HTMLParser


class LandingPage(HTMLParser):
    """``counts`` {state: number}; ``tables`` {table id: [[cell text, ...], ...]} without
    header rows; ``refresh`` the meta refresh seconds; ``title``."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.refresh: int | None = None
        self.title = ""
        self.text = ""
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._count: str | None = None
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "meta" and attr.get("http-equiv") == "refresh":
            self.refresh = int(attr["content"] or 0)
        elif tag == "title":
            self._in_title = True
        elif tag == "table":
            self._table = attr.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "span" and (attr.get("id") or "").startswith("count-"):
            self._count = (attr.get("id") or "")[len("count-"):]

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "span":
            self._count = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self._cell.append(data)
        if self._count is not None:
            self.counts[self._count] = int(data.split()[0])

    def column(self, table: str, index: int = 0) -> list[str]:
        """One column of a table (default: the device names), top to bottom."""
        return [row[index] for row in self.tables.get(table, [])]
