"""Everything the CLI prints goes through here: safe text, missing values, and tables that fit the terminal.

Why one module: the store holds text that anyone can write (the name typed
into a failed login lands in the audit log, a site's Alertmanager writes
alert labels, a remote host writes probe messages and run output). Printed
raw, ``[/x]`` crashes rich's markup parser, ``[white on white]`` hides
text, and ``ESC[2J`` clears the operator's screen. So:

* :func:`plain` turns any value into one line that moves no cursor and sets
  no colour (ANSI/OSC sequences and control characters removed, line breaks
  shown as ``␤``), and ``None`` into :data:`MISSING`; :func:`lines` keeps
  line breaks (run output, multi-line error messages); :func:`safe` also
  escapes rich markup, for text put into a markup string.
* :class:`SafeConsole` (from :func:`console`) strips control sequences from
  every string it renders and prints a string whose markup does not parse
  as the literal text instead of crashing: code that forgets :func:`safe`
  still cannot break the terminal or the command.
* :func:`show_table` lays a table out for the console's width (80 columns on
  an ssh session): key columns (ids, names, states, times) are never wrapped
  or cut; long text wraps; optional columns are hidden, least useful first,
  when even then it would not fit, with a line on stderr naming them and
  ``--wide`` (:func:`wide_option`) to see everything. Cells are
  :class:`rich.text.Text`, never markup. Piped output with no ``COLUMNS``
  gets every column at full width (for grep and files).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import click
from rich.console import Console
from rich.errors import MarkupError
from rich.markup import escape
from rich.table import Table
from rich.text import Text

MISSING = "—"
NEWLINE = "␤"
# Escape sequences: CSI (colours, cursor, clear), OSC (window title, hyperlinks; ended by BEL or ST),
# and the two-character ones (ESC c resets the terminal).
_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x1b")
# C0 controls but tab and line breaks, DEL, C1 controls, and the bidirectional overrides that reorder text.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("\r\n|[\r\n\u2028\u2029]")
WRAP_MIN = 10  # a wrapping column may get this narrow (longer words fold) before columns are hidden
GAP = 2  # spaces between two columns

F = TypeVar("F", bound=Callable[..., Any])
Cell = Any  # a value (None shows as MISSING) or a Text built with styled()


def lines(value: object) -> str:
    """``value`` as text with its line breaks kept and every other control sequence removed.

    None is MISSING; a dict or list is shown as JSON.
    """
    if value is None:
        return MISSING
    if isinstance(value, dict | list | tuple):  # JSON, not Python's repr (no None, True, quotes of repr)
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = _CONTROLS.sub("", _SEQUENCES.sub("", str(value)))
    return _BREAKS.sub("\n", text).replace("\t", "    ")


def plain(value: object) -> str:
    """``value`` as one line that is safe on any terminal (see the module doc); None is MISSING."""
    return lines(value).replace("\n", NEWLINE)


def safe(value: object) -> str:
    """:func:`plain` with rich markup escaped: for interpolating data into a markup string."""
    return escape(plain(value))


def styled(value: object, style: str = "") -> Text:
    """A table cell or message part: ``value`` as :func:`plain` text in ``style`` (never parsed as markup)."""
    return Text(plain(value), style=style)


def echo(value: object, err: bool = False) -> None:
    """``click.echo`` of one line that may hold data, as :func:`plain` (a line break in the data shows as ␤)."""
    click.echo(plain(value), err=err)


class SafeConsole(Console):
    """A rich Console that never passes a control sequence through and never fails on markup.

    Every string it renders (a message, a table cell, a header) is cleaned
    with :func:`lines` first; a string whose markup does not parse is printed
    as the literal text.
    """

    def render_str(self, text: str, **options: Any) -> Text:
        cleaned = lines(text)
        try:
            return super().render_str(cleaned, **options)
        except MarkupError:
            return super().render_str(cleaned, **{**options, "markup": False})


def console(stderr: bool = False, width: int | None = None) -> SafeConsole:
    """The CLI's console on stdout (or stderr): no highlighting, no emoji codes, rich's width detection."""
    return SafeConsole(highlight=False, soft_wrap=False, emoji=False, stderr=stderr, width=width)


def wide_option(function: F) -> F:
    """The ``--wide`` flag of every command that prints a table."""
    return click.option("--wide", is_flag=True, help="Show every column at full width (default: fit the terminal).")(
        function
    )


@dataclass(frozen=True)
class Column:
    """One column of a CLI table.

    ``key`` columns (ids, names, states, times) are never wrapped or cut;
    the others wrap. ``optional`` 0 is always shown; 1, 2, ... may be hidden
    when the table does not fit, the highest number first.
    """

    header: str
    key: bool = False
    optional: int = 0
    justify: Literal["left", "right"] = "left"


def _cell(value: Cell) -> Text:
    return value if isinstance(value, Text) else styled(value)


def _longest_word(text: Text) -> int:
    return max((Text(word).cell_len for word in text.plain.split()), default=0)


def _natural(text: Text) -> int:
    return max((Text(line).cell_len for line in text.plain.split("\n")), default=0)


@dataclass(frozen=True)
class _Measure:
    minimum: int  # narrower, the column would cut a header word or fold more than long words
    word: int  # as wide as its longest word: wraps between words only
    natural: int  # every cell on one line


def _measure(column: Column, cells: list[Text]) -> _Measure:
    header = Text(column.header)
    natural = max([_natural(header), *(_natural(cell) for cell in cells)])
    if column.key:
        return _Measure(natural, natural, natural)
    longest = min(natural, max([_longest_word(header), *(_longest_word(cell) for cell in cells)]))
    return _Measure(min(longest, max(WRAP_MIN, _longest_word(header))), longest, natural)


def layout(
    columns: Sequence[Column], rows: Iterable[Sequence[Cell]], width: int | None, title: str | None = None
) -> tuple[Table, list[str], int]:
    """Build the rich Table of ``rows`` for ``width`` columns (None: every column at full width).

    Returns the table, the headers of the columns hidden to fit, and its
    width. Key columns get their full width, wrapping columns share what is
    left up to their full width; when even the narrowest layout is too wide,
    optional columns go, the highest ``optional`` first (then the rightmost).
    Costs one measurement per cell.
    """
    body = [[_cell(value) for value in row] for row in rows]
    shown = list(range(len(columns)))
    measures = [_measure(column, [row[index] for row in body]) for index, column in enumerate(columns)]

    def narrowest(indexes: list[int]) -> int:
        return sum(measures[i].minimum for i in indexes) + GAP * max(0, len(indexes) - 1)

    hidden: list[int] = []
    if width is None:
        widths = {i: measures[i].natural for i in shown}
    else:
        droppable = sorted((i for i, c in enumerate(columns) if c.optional), key=lambda i: (-columns[i].optional, -i))
        while droppable and narrowest(shown) > width:
            drop = droppable.pop(0)
            shown.remove(drop)
            hidden.append(drop)
        widths = {i: measures[i].minimum for i in shown}
        spare = _grow(widths, {i: measures[i].word for i in shown}, width - narrowest(shown))
        _grow(widths, {i: measures[i].natural for i in shown}, spare)
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold",
                  title=title, title_justify="left", title_style="bold")  # fmt: skip
    for i in shown:
        column = columns[i]
        table.add_column(column.header, justify=column.justify, width=widths[i], no_wrap=column.key, overflow="fold")
    for row in body:
        table.add_row(*(row[i] for i in shown))
    total = sum(widths.values()) + GAP * max(0, len(shown) - 1)
    return table, [columns[i].header for i in sorted(hidden)], total


def _grow(widths: dict[int, int], targets: dict[int, int], spare: int) -> int:
    """Share ``spare`` columns out evenly among the columns narrower than their target; return what is left."""
    while spare > 0:
        growing = [i for i in widths if widths[i] < targets[i]]
        if not growing:
            break
        share = max(1, spare // len(growing))
        for i in growing:
            step = min(share, targets[i] - widths[i], spare)
            widths[i] += step
            spare -= step
            if spare == 0:
                break
    return spare


def fits_whole(out: Console) -> bool:
    """True when the output is not a terminal and no ``COLUMNS`` asks for a width: every column, full width."""
    return not out.is_terminal and "COLUMNS" not in os.environ


def show_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    wide: bool = False,
    title: str | None = None,
    out: Console | None = None,
) -> None:
    """Print a table laid out for the console (see :func:`layout`); name hidden columns on stderr."""
    out = out or console()
    whole = wide or fits_whole(out)
    table, hidden, total = layout(columns, rows, None if whole else out.width, title)
    if whole and total > out.width:
        out = SafeConsole(highlight=False, soft_wrap=False, emoji=False, file=out.file, width=total,
                          force_terminal=out.is_terminal, no_color=out.no_color,
                          color_system=out.color_system)  # type: ignore[arg-type]  # fmt: skip
    out.print(table)
    if hidden:
        note = f"{len(hidden)} column(s) hidden to fit {out.width} columns ({', '.join(hidden)}): --wide shows them"
        console(stderr=True).print(Text(note, style="dim"), soft_wrap=True)  # one line: scripts may grep it


def moment(value: object, seconds: bool = False) -> str:
    """An ISO time (string or datetime) as ``YYYY-MM-DD HH:MM[:SS]``, in its own zone (UTC in the store).

    None (never happened) is MISSING.
    """
    if value is None or value == "":
        return MISSING
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return plain(text.replace("T", " ")[: 19 if seconds else 16])
