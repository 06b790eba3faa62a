"""Tables as text: Markdown for the terminal, CSV, JSON and HTML; every value escaped.

In Markdown and HTML, a measure with a bootstrap interval (``X lo``/``X hi`` columns)
shows as ``X ± h`` (h: half the interval's width), an empty value as "—", never ``nan``
or ``inf``. Without ``wide``, the terminal tables keep the columns a reader ranks by, and
clip long text, so that a line fits 120 columns. CSV and JSON keep every number; CSV text
that a spreadsheet would run as a formula (``= + - @``) is prefixed with ``'``.
"""

from __future__ import annotations

import html
import json
import math
import textwrap
from typing import Any

import pandas as pd
from tabulate import tabulate

from licbench.errors import LicbenchError
from licbench.leaderboard.view import Table

EMPTY = "—"
WIDTH = 120  # the terminal view's widest line
NARROW_DROP = ("wins", "by attack", "Δ MS-SSIM", "note")  # --wide shows them
CLIP = 26  # characters of a text cell in the narrow view
ARROW = {True: " ↑", False: " ↓"}


def number(value: Any, column: str = "") -> str:
    """One value as shown: "—" where empty or infinite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return EMPTY
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value) if str(value) not in ("nan", "None", "") else EMPTY
    if isinstance(value, int) or column in ("images", "points", "rank", "quality"):
        return f"{value:g}"
    if column.endswith("%"):
        return f"{value:+.1f}"
    if "×" in column:
        return f"{value:.3f}"
    if "psnr" in column.lower() and not column.startswith("Δ"):
        return f"{value:.2f}"
    if column.startswith("Δ"):
        return f"{value:+.3f}" if "SSIM" in column else f"{value:+.2f}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def shown(table: Table, wide: bool = False, clip: bool = True) -> pd.DataFrame:
    """The table as strings: intervals merged as ±, empties as "—", narrowed unless wide
    (long text clipped too, with ``clip``)."""
    frame = table.frame
    intervals = [c for c in frame if f"{c} lo" in frame and f"{c} hi" in frame]
    out = {}
    for col in frame:
        if str(col).endswith((" lo", " hi")) and str(col)[:-3] in intervals:
            continue
        if not wide and (col in NARROW_DROP or _hidden(table, col) or _said(table, col)):
            continue
        text = [number(v, str(col)) for v in frame[col]]
        if col in intervals:
            half = (frame[f"{col} hi"] - frame[f"{col} lo"]) / 2
            plus = [number(h, str(col)).lstrip("+") for h in half]
            text = [
                t if p == EMPTY or t == EMPTY else f"{t} ± {p}"
                for t, p in zip(text, plus, strict=True)
            ]
        if not wide and clip:
            text = [t if len(t) <= CLIP else t[: CLIP - 1] + "…" for t in text]
        out[col] = text
    return pd.DataFrame(out, columns=list(out))


def _said(table: Table, col: Any) -> bool:
    """A column whose one value the caption states (the image count)."""
    return col == "images" and table.frame[col].nunique() == 1 and "images" in table.caption


def _hidden(table: Table, col: Any) -> bool:
    core = table.frame.attrs.get("core")
    return core is not None and col not in core and col not in _KEYS


_KEYS = ("quality", "label", "attack", "defense", "images")


def _headers(frame: pd.DataFrame, directions: dict[str, bool]) -> list[str]:
    return [c + ARROW[directions[c]] if c in directions else c for c in frame.columns]


def _md_cell(text: str) -> str:
    """A value inside a Markdown table: no column breaks, no line breaks, no raw HTML."""
    text = text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    return text.replace("<", "&lt;")  # no tag can open


def markdown(tables: dict[str, Table], directions: dict[str, bool], wide: bool = False) -> str:
    out = []
    for title, t in tables.items():
        frame, left = shown(t, wide).map(_md_cell), list[str]()
        while True:
            body = tabulate(frame, headers=_headers(frame, directions), tablefmt="github",
                            showindex=False, disable_numparse=True)  # fmt: skip
            if wide or len(frame.columns) <= 2 or max(map(len, body.splitlines())) <= WIDTH:
                break
            left.insert(0, str(frame.columns[-1]))
            frame = frame.iloc[:, :-1]
        caption = t.caption + (f" --wide adds: {', '.join(left)}." if left else "")
        caption = "\n".join(textwrap.wrap(caption, WIDTH)) if not wide else caption
        out.append(f"### {title}\n\n{caption}\n\n{body}")
    return "\n\n".join(out)


def _safe_csv(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv(tables: dict[str, Table]) -> str:
    frames = [t.frame.assign(table=title, caption=t.caption) for title, t in tables.items()]
    if not frames:
        return ""
    frame = pd.concat(frames, ignore_index=True)
    return frame.map(_safe_csv).to_csv(index=False)


def as_json(tables: dict[str, Table]) -> str:
    return json.dumps(
        {
            title: {"caption": t.caption, "rows": json.loads(t.frame.to_json(orient="records"))}
            for title, t in tables.items()
        },
        indent=2,
        ensure_ascii=False,
    )


def table_html(title: str, table: Table, directions: dict[str, bool], wide: bool = True) -> str:
    """One table as escaped HTML: sortable (numbers sort by ``data-value``), FAIL verdicts
    highlighted, its caption under the title."""
    frame = shown(table, wide, clip=False)  # a page wraps long text
    raw = table.frame
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _headers(frame, directions))
    rows = []
    for i in range(len(frame)):
        cells = []
        for col in frame.columns:
            text = str(frame[col].iloc[i])
            value = raw[col].iloc[i] if col in raw else None
            sort = (
                f' data-value="{value!r}"'
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) else ""
            )  # fmt: skip
            cls = " class='fail'" if text == "FAIL" else ""
            cells.append(f"<td{sort}{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<p class='caption'>{html.escape(table.caption)}</p>" if table.caption else ""
    return (
        f"<h3>{html.escape(title)}</h3>\n{caption}\n<table class='sortable'><thead><tr>{head}"
        f"</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def render(
    tables: dict[str, Table], directions: dict[str, bool], fmt: str, wide: bool = False
) -> str:
    """Tables as ``md``, ``csv``, ``json`` or ``html``."""
    if fmt == "md":
        return markdown(tables, directions, wide)
    if fmt == "csv":
        return csv(tables)
    if fmt == "json":
        return as_json(tables)
    if fmt == "html":
        return "\n".join(table_html(t, table, directions) for t, table in tables.items())
    raise LicbenchError(f"unknown format '{fmt}'; use md, csv, json or html")


def plain(frame: pd.DataFrame) -> Table:
    """A frame without a caption, as a table (e.g. the index)."""
    return Table(frame, "", "details")
