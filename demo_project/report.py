"""Render a demo run's result as a terminal summary or a self-contained HTML page.

Both renderers take the plain JSON-ready ``result`` dict the traffic run produces, so a run
can be re-rendered from a saved file. The HTML uses only inline CSS and inline SVG: it must
open offline, attached to a CI run or mailed around, with nothing fetched.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

from . import spikes

COLOURS = ("blue", "green")
ROLES = {"blue": "old release", "green": "new release"}
HEX = {"blue": "#1f6feb", "green": "#1a7f37"}
OTHER_HEX = "#6e7781"
ERROR_HEX = "#d1242f"
ANSI = {"blue": "34", "green": "32", "pass": "1;32", "fail": "1;31", "error": "1;31"}
MAX_MISMATCHES = 10

# SVG geometry, in px of a 1000-wide drawing; the height follows the phase label rows.
WIDTH = 1000
LEFT = 72
RIGHT = 28
LABEL_ROW = 17
LABEL_FONT_PX = 12
LABEL_CHAR_PX = 7.0  # a generous average glyph width, so estimated labels never collide
PANEL_HEIGHT = 130
PANEL_GAP = 34  # room above each panel for its title


def verdict(result: Mapping[str, Any]) -> tuple[bool, str]:
    """Decide pass or fail once, so the terminal and the page can never disagree.

    A run passes only when no request failed, every written row was read back and no
    mismatch was reported: any one of them alone means the rollout was not zero-downtime.
    A run that wrote no rows proved nothing, so it fails too.
    """
    errors = int(result.get("errors", 0))
    written = int(result.get("rows_written", 0))
    verified = int(result.get("rows_verified", 0))
    passed = errors == 0 and 0 < written == verified and not result.get("mismatches")
    noun = "request" if errors == 1 else "requests"
    path = result.get("path", "unknown")
    return passed, f"{errors} failed {noun}, {verified}/{written} rows verified (path: {path})"


def render_terminal(result: Mapping[str, Any], *, color: bool = False) -> str:
    """The run at a glance: verdict first, then traffic per phase and colour, then the schema.

    Colour codes are opt-in because the summary is also piped into CI logs and files::

        print(render_terminal(result, color=sys.stdout.isatty()))
    """
    passed, headline = verdict(result)
    word = _paint("PASS", "pass", color) if passed else _paint("FAIL", "fail", color)
    lines = [f"{word}  {headline}"]
    lines += [f"  - {line}" for line in _mismatch_lines(result)]
    lines += ["", *_terminal_table(_rows(result), color)]
    lines += [f"cross-colour: {line}" for line in _cross_lines(result)]
    for n, spike in enumerate(spikes.explain(result, _bucket_width(_timeline(result))), 1):
        lines.append(
            f"spike {n}: {spike['colour']} p99 {spike['p99_ms']:.0f} ms at {spike['t_s']:g} s "
            f"({spike['phase'] or 'no phase'}): {spike['cause']}"
        )
    columns = result.get("final_columns")
    if columns is not None:
        lines.append(f"final columns: {', '.join(map(str, columns)) or '(none)'}")
    if result.get("duration_s") is not None:
        lines.append(f"duration: {float(result['duration_s']):.1f} s")
    return "\n".join(lines) + "\n"


def render_html(result: Mapping[str, Any]) -> str:
    """One offline page: verdict, what was rolled out, the phase table, a timeline of both
    colours, its spikes explained, the locks the rollout took, the schema phase by phase,
    the cross-colour evidence and the checks.

    The timeline is the point of the page: a failed request or a latency spike lines up
    with the phase (the migrate, a traffic shift) and the lock that caused it.
    """
    passed, headline = verdict(result)
    badge = "PASS" if passed else "FAIL"
    mismatches = "".join(f"<li>{_esc(line)}</li>" for line in _mismatch_lines(result))
    facts = [("path", _esc(result.get("path", "unknown")))]
    if result.get("duration_s") is not None:
        facts.append(("duration", f"{float(result['duration_s']):.1f} s"))
    if result.get("final_columns") is not None:
        codes = ", ".join(f"<code>{_esc(c)}</code>" for c in result["final_columns"])
        facts.append(("final columns", codes or "(none)"))
    facts += _machine_facts(result.get("machine") or {})
    bucket = _bucket_width(_timeline(result))
    return _PAGE % {
        "css": _CSS,
        "badge": badge,
        "badge_class": badge.lower(),
        "headline": _esc(headline),
        "mismatches": f'<ul class="mismatches">{mismatches}</ul>' if mismatches else "",
        "facts": "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts),
        "operations": _operations_html(result),
        "table": _html_table(_rows(result)),
        "svg": _svg(result),
        "spikes": _spikes_html(result, bucket),
        "locks": _locks_html(result),
        "schema": _schema_html(result),
        "evidence": _evidence_html(result),
        "checks": _checks_html(result),
    }


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _paint(text: str, role: str, color: bool) -> str:
    return f"\x1b[{ANSI[role]}m{text}\x1b[0m" if color and role in ANSI else text


def _mismatch_lines(result: Mapping[str, Any]) -> list[str]:
    """The first mismatches and a count of the rest: the first few say what went wrong."""
    mismatches = [str(m) for m in result.get("mismatches") or ()]
    shown = mismatches[:MAX_MISMATCHES]
    if len(mismatches) > len(shown):
        shown.append(f"and {len(mismatches) - len(shown)} more")
    return shown


class _Row(NamedTuple):
    phase: str  # empty on a phase's second and later colours, so phases read as groups
    window: str
    colour: str
    requests: str
    errors: str
    p50: str
    p99: str
    failed: bool


HEADERS = _Row("phase", "time (s)", "colour", "requests", "errors", "p50 ms", "p99 ms", False)
CELLS = _Row._fields[:-1]  # the columns shown; ``failed`` only styles the errors cell
RIGHT_ALIGNED = {"requests", "errors", "p50", "p99"}


def _rows(result: Mapping[str, Any]) -> list[list[_Row]]:
    """Table rows grouped by phase; a colour without traffic in a phase gets no row."""
    groups = []
    for phase in result.get("phases") or ():
        stats = phase.get("colours") or {}
        window = f"{float(phase.get('start_s', 0)):.1f}–{float(phase.get('end_s', 0)):.1f}"
        group = []
        for colour in _ordered(stats):
            s = stats[colour]
            errors = int(s.get("errors", 0))
            group.append(
                _Row(
                    "" if group else str(phase.get("name", "")),
                    "" if group else window,
                    colour,
                    f"{int(s.get('requests', 0)):,}",
                    f"{errors:,}",
                    f"{float(s.get('p50_ms', 0)):.1f}",
                    f"{float(s.get('p99_ms', 0)):.1f}",
                    errors > 0,
                )
            )
        if not group:
            group.append(_Row(str(phase.get("name", "")), window, "", "", "", "", "", False))
        groups.append(group)
    return groups


def _ordered(colours: Iterable[str]) -> list[str]:
    """Blue before green, then anything unexpected, so rows and legends keep one order."""
    present = list(colours)
    return [c for c in COLOURS if c in present] + sorted(c for c in present if c not in COLOURS)


def _terminal_table(groups: list[list[_Row]], color: bool) -> list[str]:
    rows = [HEADERS, *(row for group in groups for row in group)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(CELLS))]

    def rule(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def line(row: _Row, paint: bool) -> str:
        cells = []
        for i, (field, width) in enumerate(zip(CELLS, widths, strict=True)):
            text = row[i].rjust(width) if field in RIGHT_ALIGNED else row[i].ljust(width)
            if paint and field == "colour":
                text = _paint(text, row.colour, color)
            elif paint and field == "errors" and row.failed:
                text = _paint(text, "error", color)
            cells.append(text)
        return "│ " + " │ ".join(cells) + " │"

    out = [rule("┌", "┬", "┐"), line(HEADERS, False)]
    for group in groups:
        out.append(rule("├", "┼", "┤"))
        out += [line(row, True) for row in group]
    out.append(rule("└", "┴", "┘"))
    return out


def _html_table(groups: list[list[_Row]]) -> str:
    head = "".join(
        f'<th class="{"num" if f in RIGHT_ALIGNED else ""}">{_esc(h)}</th>'
        for f, h in zip(CELLS, HEADERS, strict=False)
    )
    body = []
    for group in groups:
        for i, row in enumerate(group):
            cells = []
            if i == 0:
                span = f' rowspan="{len(group)}"' if len(group) > 1 else ""
                cells.append(f'<th scope="row"{span}>{_esc(row.phase)}</th>')
                cells.append(f'<td class="window"{span}>{_esc(row.window)}</td>')
            swatch = f'<span class="swatch" style="background:{_hex(row.colour)}"></span>'
            cells.append(f"<td>{swatch if row.colour else ''}{_esc(row.colour)}</td>")
            for field in ("requests", "errors", "p50", "p99"):
                bad = " bad" if field == "errors" and row.failed else ""
                cells.append(f'<td class="num{bad}">{_esc(getattr(row, field))}</td>')
            body.append(f'<tr class="{"first" if i == 0 else ""}">{"".join(cells)}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _hex(colour: str) -> str:
    return HEX.get(colour, OTHER_HEX)


@dataclass(frozen=True)
class _Scale:
    """A linear map from data to pixels; one x scale is shared so the panels line up."""

    lo: float
    hi: float
    p0: float
    p1: float

    def __call__(self, value: float) -> float:
        return self.p0 + (value - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)


def _ticks(hi: float, count: int, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``hi``: readers compare against 1, 2, 5, not 3.7."""
    hi = hi if hi > 0 else 1.0
    raw = hi / count
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    return [i * step for i in range(math.ceil(hi / step - 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def _requests(sample: Mapping[str, Any]) -> float:
    return float(sample.get("requests", 0))


class _Panel(NamedTuple):
    key: str
    title: str  # formatted with the bucket size
    value: Callable[[Mapping[str, Any]], float]
    integer: bool
    defined: Callable[[Mapping[str, Any]], bool]  # a bucket where the value means something


PANELS = (
    _Panel("requests", "requests per {bucket:.3g} s", _requests, True, lambda s: True),
    _Panel(
        "errors",
        "failed requests per {bucket:.3g} s",
        lambda s: float(s.get("errors", 0)),
        True,
        lambda s: True,
    ),
    _Panel(
        "p99",
        "p99 latency per {bucket:.3g} s (ms)",
        lambda s: float(s.get("p99_ms", 0)),
        False,
        lambda s: _requests(s) > 0,  # no requests, no latency: a gap, not a drop to 0
    ),
)


def _series(timeline: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    by_colour: dict[str, list[Mapping[str, Any]]] = {}
    for sample in timeline:
        by_colour.setdefault(str(sample.get("colour", "")), []).append(sample)
    return {c: sorted(by_colour[c], key=lambda s: float(s["t_s"])) for c in _ordered(by_colour)}


def _bucket_width(timeline: list[Mapping[str, Any]]) -> float:
    """The bucket size, read back from the samples so the page needs no extra key."""
    times = sorted({float(s["t_s"]) for s in timeline})
    gaps = [b - a for a, b in pairwise(times)]
    return min(gaps) if gaps else 0.5


def _label_rows(phases: list[Mapping[str, Any]], x: _Scale) -> list[tuple[float, int]]:
    """Place each phase name on the first row where it clears its neighbours.

    Phases can be a fraction of a second apart (the migrate often is), so names are
    staggered into rows instead of written at their lines and over each other.
    """
    row_ends: list[float] = []
    placed = []
    for phase in phases:
        width = len(str(phase.get("name", ""))) * LABEL_CHAR_PX
        left = min(x(float(phase.get("start_s", 0))) + 3, WIDTH - 4 - width)
        row = next((r for r, end in enumerate(row_ends) if end + 10 <= left), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0)
        row_ends[row] = left + width
        placed.append((left, row))
    return placed


def _svg(result: Mapping[str, Any]) -> str:
    """Three panels over one time axis, phase boundaries drawn through all of them."""
    phases = list(result.get("phases") or ())
    timeline = _timeline(result)
    series = _series(timeline)
    bucket = _bucket_width(timeline)
    x_hi = max(
        [float(result.get("duration_s") or 0)]
        + [float(p.get("end_s", 0)) for p in phases]
        + [float(s["t_s"]) + bucket for s in timeline]
    )
    x = _Scale(0, x_hi if x_hi > 0 else 1.0, LEFT, WIDTH - RIGHT)
    labels = _label_rows(phases, x)
    top = 8 + LABEL_ROW * max([row + 1 for _, row in labels], default=0)
    panel_tops = [top + PANEL_GAP + i * (PANEL_HEIGHT + PANEL_GAP) for i in range(len(PANELS))]
    bottom = panel_tops[-1] + PANEL_HEIGHT
    height = bottom + 78

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="rollout timeline">'
    ]
    for i, phase in enumerate(phases):
        if i % 2:
            x0, x1 = x(float(phase.get("start_s", 0))), x(float(phase.get("end_s", 0)))
            out += [
                f'<rect class="band" x="{x0:.1f}" y="{t}" width="{max(x1 - x0, 0):.1f}" '
                f'height="{PANEL_HEIGHT}"/>'
                for t in panel_tops
            ]
    out += _lock_stripes(result, x, panel_tops)
    x_ticks = [t for t in _ticks(x.hi, 10) if t <= x.hi + 1e-9]
    phase_lines, phase_names = _phase_marks(phases, labels, x, bottom)
    out += phase_lines
    for panel, panel_top in zip(PANELS, panel_tops, strict=True):
        out += _panel(panel, panel_top, series, x, x_ticks, bucket)
    for t in x_ticks:
        out.append(
            f'<text class="tick" x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{_fmt(t)}</text>"
        )
    out.append(
        f'<text class="axis-title" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{bottom + 36}" '
        f'text-anchor="middle">seconds since start</text>'
    )
    if not timeline:
        out.append(
            f'<text class="empty" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{panel_tops[0] + 60}" '
            f'text-anchor="middle">no timeline samples in this result</text>'
        )
    out += phase_names
    p99_top = panel_tops[[panel.key for panel in PANELS].index("p99")]
    out += [
        f'<text class="spike-mark" x="{x(s["t_s"] + bucket / 2):.1f}" y="{p99_top + 14}" '
        f'text-anchor="middle">▼{n}</text>'
        for n, s in enumerate(spikes.explain(result, bucket), 1)
    ]
    out += _hover_columns(series, x, bucket, panel_tops[0], bottom)
    out += _legend(bottom + 62)
    out.append("</svg>")
    return "\n".join(out)


def _panel(
    panel: _Panel,
    top: float,
    series: dict[str, list[Mapping[str, Any]]],
    x: _Scale,
    x_ticks: list[float],
    bucket: float,
) -> list[str]:
    runs = {colour: _runs(samples, panel.defined) for colour, samples in series.items()}
    values = [panel.value(s) for rs in runs.values() for run in rs for s in run]
    headroom = 1.3 if panel.key == "errors" else 1.0  # room for the counts above the bars
    y_ticks = _ticks(max(values, default=0) * headroom, 4, panel.integer)
    y = _Scale(0, y_ticks[-1], top + PANEL_HEIGHT, top)
    title = _esc(panel.title.format(bucket=bucket))
    if panel.key == "errors":
        total = int(sum(values))
        title += (
            f' <tspan class="loud">— {total:,} failed</tspan>'
            if total
            else ' <tspan class="calm">— none</tspan>'
        )
    out = [f'<text class="panel-title" x="{LEFT}" y="{top - 10}">{title}</text>']
    for t in y_ticks:
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
        )
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">'
            f"{_fmt(t)}</text>"
        )
    out += [
        f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + PANEL_HEIGHT}"/>'
        for t in x_ticks
    ]
    out.append(
        f'<rect class="frame" x="{LEFT}" y="{top}" width="{WIDTH - RIGHT - LEFT}" '
        f'height="{PANEL_HEIGHT}"/>'
    )
    for colour, run in ((c, run) for c, rs in runs.items() for run in rs):
        points = " ".join(f"{x(float(s['t_s'])):.1f},{y(panel.value(s)):.1f}" for s in run)
        out.append(
            f'<polyline class="series" data-panel="{panel.key}" data-colour="{_esc(colour)}" '
            f'stroke="{_hex(colour)}" points="{points}"/>'
        )
        if len(run) == 1:  # a one-point polyline draws nothing
            cx, cy = points.split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{_hex(colour)}"/>')
    if panel.key == "errors":
        out += _error_bars(series, x, y, bucket)
    return out


def _runs(
    samples: list[Mapping[str, Any]], defined: Callable[[Mapping[str, Any]], bool]
) -> list[list[Mapping[str, Any]]]:
    """Consecutive samples where the value is defined: each run is drawn as its own line."""
    runs: list[list[Mapping[str, Any]]] = [[]]
    for sample in samples:
        if defined(sample):
            runs[-1].append(sample)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _error_bars(
    series: dict[str, list[Mapping[str, Any]]], x: _Scale, y: _Scale, bucket: float
) -> list[str]:
    """Red bars with counts for every failing bucket: one failure must not hide in a line."""
    bucket_px = x(bucket) - x(0)
    width = max(5.0, bucket_px * 0.45)
    out = []
    for i, (colour, samples) in enumerate(series.items()):
        for s in samples:
            errors = int(s.get("errors", 0))
            if errors <= 0:
                continue
            at = x(float(s["t_s"]))
            left = at + (i - 1 if len(series) > 1 else -0.5) * width
            out.append(
                f'<rect class="error-column" x="{at - bucket_px / 2:.1f}" y="{y.p1}" '
                f'width="{bucket_px:.1f}" height="{y.p0 - y.p1}"/>'
            )
            out.append(
                f'<rect class="error-bar" x="{left:.1f}" y="{y(errors):.1f}" '
                f'width="{width:.1f}" height="{y(0) - y(errors):.1f}" stroke="{_hex(colour)}">'
                f"<title>{_esc(colour)} at {float(s['t_s']):g} s: {errors} failed</title></rect>"
            )
            out.append(
                f'<text class="error-count" x="{left + width / 2:.1f}" '
                f'y="{y(errors) - 4:.1f}" text-anchor="middle">{errors}</text>'
            )
    return out


def _lock_stripes(result: Mapping[str, Any], x: _Scale, panel_tops: list[float]) -> list[str]:
    """A stripe through every panel while the watcher saw an ACCESS EXCLUSIVE lock held:
    the requests of a spike under a stripe waited for it."""
    locks = result.get("locks") or {}
    period = float(locks.get("period_s", 0))
    out = []
    for held in locks.get("intervals") or ():
        if not held.get("granted") or held.get("mode") != "AccessExclusiveLock":
            continue
        x0 = x(float(held["from_s"]))
        width = max(x(float(held["to_s"]) + period) - x0, 2.0)
        what = f"{held['app']}: ACCESS EXCLUSIVE on {held['relation']}"
        out += [
            f'<rect class="lock" x="{x0:.1f}" y="{top}" width="{width:.1f}" '
            f'height="{PANEL_HEIGHT}"><title>{_esc(what)}</title></rect>'
            for top in panel_tops
        ]
    return out


def _phase_marks(
    phases: list[Mapping[str, Any]], labels: list[tuple[float, int]], x: _Scale, bottom: float
) -> tuple[list[str], list[str]]:
    """A dashed line at each phase start, rising to its name in that name's row.

    Lines and names come apart so the lines go under the data and the names over the lines.
    """
    lines, names = [], []
    for phase, (left, row) in zip(phases, labels, strict=True):
        name = _esc(phase.get("name", ""))
        at = x(float(phase.get("start_s", 0)))
        baseline = 8 + LABEL_ROW * (row + 1) - 4
        lines.append(
            f'<line class="phase-boundary" x1="{at:.1f}" x2="{at:.1f}" y1="{baseline + 4}" '
            f'y2="{bottom}" stroke-dasharray="5 4"/>'
        )
        names.append(
            f'<text class="phase-label" x="{left:.1f}" y="{baseline}">{name}'
            f"<title>{name}: {float(phase.get('start_s', 0)):.1f}–"
            f"{float(phase.get('end_s', 0)):.1f} s</title></text>"
        )
    return lines, names


def _hover_columns(
    series: dict[str, list[Mapping[str, Any]]], x: _Scale, bucket: float, top: float, bottom: float
) -> list[str]:
    """Invisible columns whose SVG <title> is the bucket's numbers: tooltips without script."""
    at: dict[float, list[str]] = {}
    for colour, samples in series.items():
        for s in samples:
            line = f"{colour}: {int(_requests(s))} req, {int(s.get('errors', 0))} failed"
            if _requests(s):
                line += f", p50 {float(s.get('p50_ms', 0)):.1f} ms"
                line += f", p99 {float(s.get('p99_ms', 0)):.1f} ms"
            at.setdefault(float(s["t_s"]), []).append(line)
    half = (x(bucket) - x(0)) / 2
    return [
        f'<rect class="hover" x="{x(t) - half:.1f}" y="{top}" width="{2 * half:.1f}" '
        f'height="{bottom - top}"><title>{_esc(f"{t:g} s")}&#10;'
        f"{'&#10;'.join(_esc(line) for line in lines)}</title></rect>"
        for t, lines in sorted(at.items())
    ]


def _legend(y: float) -> list[str]:
    entries = [
        (
            f'<line x1="0" x2="22" y1="0" y2="0" stroke="{HEX[c]}" stroke-width="2.5"/>',
            f"{c} ({ROLES[c]})",
        )
        for c in COLOURS
    ]
    entries += [
        (
            '<line class="phase-boundary" x1="11" x2="11" y1="-8" y2="8" stroke-dasharray="5 4"/>',
            "phase start",
        ),
        (f'<rect x="5" y="-7" width="12" height="14" fill="{ERROR_HEX}"/>', "failed requests"),
        ('<rect class="lock" x="5" y="-7" width="12" height="14"/>', "exclusive lock"),
        ('<text class="spike-mark" x="11" y="5" text-anchor="middle">▼</text>', "spike"),
    ]
    out, left = [], LEFT
    for mark, text in entries:
        out.append(
            f'<g transform="translate({left},{y})">{mark}'
            f'<text class="legend" x="30" y="4">{_esc(text)}</text></g>'
        )
        left += 30 + len(text) * LABEL_CHAR_PX + 28
    return out


def _timeline(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in result.get("timeline") or () if "t_s" in s]


def _cross_lines(result: Mapping[str, Any]) -> list[str]:
    """The ledger's proof that each colour sees the other's writes, one line per colour."""
    reads = result.get("cross_reads") or {}
    writes = result.get("writes") or {}
    lines = []
    for colour in _ordered(reads):
        other = " and ".join(c for c in _ordered(reads) if c != colour) or "the other colour"
        line = f"{colour} read {int(reads[colour]):,} rows {other} wrote last, each as written"
        if colour in writes:
            made = writes[colour]
            creates = int(made.get("creates", 0))
            loaded = min(int(result.get("shelf", 0)), creates) if colour == "blue" else 0
            line += (
                f"; {colour}'s traffic created {creates - loaded:,} and updated "
                f"{int(made.get('updates', 0)):,}"
                + (f" (besides the {loaded:,} books loaded before it)" if loaded else "")
            )
        lines.append(line)
    return lines


def _machine_facts(machine: Mapping[str, Any]) -> list[tuple[str, str]]:
    if not machine:
        return []
    return [
        ("PostgreSQL", _esc(machine.get("postgres_build") or machine.get("postgres", ""))),
        (
            "machine",
            _esc(
                f"{machine.get('cores', '?')} cores, {machine.get('cpu', 'unknown CPU')}; "
                f"{machine.get('os', '')}"
            ),
        ),
        ("Python, Django", _esc(f"{machine.get('python', '?')}, {machine.get('django', '?')}")),
    ]


# The compat operation behind each kind ``compat status`` reports.
OPERATIONS = {
    "rename_column": "RenameCompatColumn",
    "add_column": "AddCompatColumn",
    "alter_column": "AlterCompatColumn",
    "remove_column": "RemoveCompatColumn",
    "rename_table": "RenameCompatModel",
    "remove_table": "RemoveCompatModel",
}
SPEC_DETAILS = (("type", "type"), ("up", "up"), ("down", "down"), ("aside", "moved aside as"))


def _rollout_status(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first ``compat status`` that saw the rollout pending: it lists its operations."""
    for snapshot in result.get("snapshots") or ():
        rollout = (snapshot.get("status") or {}).get("rollout")
        if rollout:
            return rollout
    return None


def _operations_html(result: Mapping[str, Any]) -> str:
    rollout = _rollout_status(result)
    if rollout is None:
        return '<p class="note">No <code>compat status</code> in this result saw the rollout.</p>'
    rows = []
    for op in rollout.get("operations") or ():
        spec = op.get("spec") or {}
        kind = str(spec.get("kind", ""))
        change = f"{spec['old']} → {spec['new']}" if "old" in spec else spec.get("column", "")
        details = "".join(
            f"<div>{_esc(label)} <code>{_esc(spec[key])}</code></div>"
            for key, label in SPEC_DETAILS
            if spec.get(key)
        )
        backfill = op.get("backfill")
        filled = f"{backfill}, {int(op.get('backfill_rows', 0)):,} rows" if backfill else "—"
        rows.append(
            f'<tr><td class="num">{_esc(op.get("seq", ""))}</td>'
            f"<td><code>{_esc(OPERATIONS.get(kind, kind))}</code></td>"
            f"<td>{_esc(op.get('table', ''))}</td><td><code>{_esc(change)}</code>{details}</td>"
            f"<td>{_esc(filled)}</td><td>{_esc(op.get('migration', ''))}</td></tr>"
        )
    legacy = f"{rollout.get('legacy_colour')} (schema {rollout.get('legacy_schema')})"
    return (
        f"<p>Legacy colour {_esc(legacy)} reads through views; new colour "
        f"{_esc(rollout.get('new_colour'))} uses the tables.</p>"
        '<div class="card"><table><thead><tr><th class="num">#</th><th>operation</th>'
        "<th>table</th><th>change</th><th>backfill</th><th>migration</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _mapping_rows(rollout: Mapping[str, Any], columns: list[str]) -> list[tuple[str, str, str]]:
    """(legacy column, physical column, what it is) for the rollout's tables."""
    rows = []
    for table in rollout.get("tables") or ():
        mapping = table.get("mapping") or {}
        for legacy, physical in mapping.items():
            if physical.startswith("_compat_"):
                what = "kept aside for the legacy colour; the new shape has no such column"
            elif legacy == physical:
                what = "the same column in both shapes"
            else:
                what = f"renamed: the new colour reads it as {physical}"
            rows.append((legacy, physical, what))
        used = set(mapping.values())
        rows += [("", c, "new shape only") for c in columns if c not in used]
    return rows


def _snapshot_table(snapshot: Mapping[str, Any]) -> str:
    """The legacy → physical mapping as a table; without a rollout, the table's columns."""
    rollout = (snapshot.get("status") or {}).get("rollout")
    columns = [str(c) for c in snapshot.get("columns") or ()]
    if not rollout:
        codes = ", ".join(f"<code>{_esc(c)}</code>" for c in columns)
        return f"<p>No rollout: every colour reads the table itself, columns {codes}.</p>"
    body = "".join(
        f"<tr><td>{f'<code>{_esc(legacy)}</code>' if legacy else '—'}</td>"
        f"<td><code>{_esc(physical)}</code></td><td>{_esc(what)}</td></tr>"
        for legacy, physical, what in _mapping_rows(rollout, columns)
    )
    view = ", ".join(f"<code>{_esc(c)}</code>" for c in snapshot.get("legacy_view") or ())
    return (
        "<table><thead><tr><th>legacy column (old release)</th><th>physical column</th>"
        f"<th></th></tr></thead><tbody>{body}</tbody></table>"
        f'<p class="note">the legacy view shows: {view or "(no view)"}</p>'
    )


def _schema_html(result: Mapping[str, Any]) -> str:
    snapshots = list(result.get("snapshots") or ())
    if not snapshots:
        return '<p class="note">No <code>compat status</code> was kept in this result.</p>'
    return "".join(
        f'<div class="card snapshot"><h3>{_esc(snapshot.get("label", ""))} '
        f'<span class="when">phase {_esc(snapshot.get("phase", ""))}, '
        f"{float(snapshot.get('at_s', 0)):.1f} s</span></h3>{_snapshot_table(snapshot)}"
        f"<pre>$ manage.py compat status\n{_esc(snapshot.get('text', ''))}</pre></div>"
        for snapshot in snapshots
    )


def _evidence_html(result: Mapping[str, Any]) -> str:
    lines = _cross_lines(result)
    if not lines:
        return '<p class="note">No cross-colour reads in this result.</p>'
    items = "".join(f"<li>{_esc(line)}</li>" for line in lines)
    return (
        f'<ul class="evidence">{items}</ul><p class="note">Each read was compared with the '
        "ledger of every write; a read of the other colour's write counts here only when it "
        "matched.</p>"
    )


def _checks_html(result: Mapping[str, Any]) -> str:
    checks = list(result.get("checks") or ())
    if not checks:
        return '<p class="note">No checks in this result.</p>'
    rows = "".join(
        f'<tr><td><span class="mark {"pass" if c.get("ok") else "fail"}">'
        f"{'pass' if c.get('ok') else 'FAIL'}</span></td><td>{_esc(c.get('phase', ''))}</td>"
        f"<td>{_esc(c.get('what', ''))}"
        + ("" if c.get("ok") else f'<div class="bad-detail">{_esc(c.get("detail", ""))}</div>')
        + "</td></tr>"
        for c in checks
    )
    passed = sum(bool(c.get("ok")) for c in checks)
    return (
        f'<p>{passed} of {len(checks)} checks passed.</p><div class="card"><table><thead>'
        f"<tr><th></th><th>phase</th><th>check</th></tr></thead><tbody>{rows}</tbody>"
        "</table></div>"
    )


def _locks_html(result: Mapping[str, Any]) -> str:
    """Every lock the watcher saw a rollout command hold and every wait, first to last:
    how long the expand held ACCESS EXCLUSIVE, when its backfill batches ran."""
    intervals = list((result.get("locks") or {}).get("intervals") or ())
    held = [i for i in intervals if i.get("granted") and "manage.py " in str(i.get("app"))]
    waits = [{**i, "app": f"{i['app']} waiting"} for i in intervals if not i.get("granted")]
    rows = sorted(
        spikes.merge([*held, *waits], ("app", "mode", "relation")),
        key=lambda i: (float(i["from_s"]), str(i["app"])),
    )
    if not rows:
        return '<p class="note">The watcher saw no lock of a rollout command.</p>'
    body = "".join(
        f"<tr><td>{_esc(i['app'])}</td><td>{_esc(i['mode'])}</td>"
        f"<td><code>{_esc(i['relation'])}</code></td>"
        f'<td class="window">{float(i["from_s"]):.2f}–{float(i["to_s"]):.2f} s</td>'
        f'<td class="num">{int(i["count"])}</td></tr>'
        for i in rows
    )
    return (
        '<div class="card"><table><thead><tr><th>session</th><th>lock</th><th>on</th>'
        '<th>first–last seen</th><th class="num">times</th></tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
        '<p class="note">"times": separate stretches of samples it was seen in (each backfill '
        "batch is a transaction of its own).</p>"
    )


def _spikes_html(result: Mapping[str, Any], bucket: float) -> str:
    found = spikes.explain(result, bucket)
    locks = result.get("locks") or {}
    sampled = (
        f"Locks were sampled from <code>pg_locks</code> every "
        f"{float(locks.get('period_s', 0)) * 1000:.0f} ms ({int(locks.get('samples', 0)):,} "
        "samples); a lock held for less than that can be missed."
        if locks
        else "No lock samples in this result."
    )
    rule = (
        f"A spike: a {bucket:g} s bucket whose p99 is at least {spikes.SPIKE_MIN_MS:.0f} ms "
        f"and {spikes.SPIKE_FACTOR:g}× its colour's median bucket p99."
    )
    if not found:
        return f'<p class="note">No latency spike. {rule} {sampled}</p>'
    rows = "".join(
        f'<tr><td class="num">{n}</td><td class="window">{s["t_s"]:g} s</td>'
        f'<td><span class="swatch" style="background:{_hex(s["colour"])}"></span>'
        f'{_esc(s["colour"])}</td><td class="num">{s["p99_ms"]:.0f} ms '
        f'<span class="when">(typ. {s["typical_ms"]:.0f})</span></td>'
        f"<td>{_esc(s['phase'])}"
        + (' <span class="when">(at its start)</span>' if s["boundary"] else "")
        + f"</td><td><strong>{_esc(s['cause'])}</strong><ul>"
        + "".join(f"<li>{_esc(line)}</li>" for line in s["evidence"])
        + "</ul></td></tr>"
        for n, s in enumerate(found, 1)
    )
    return (
        '<div class="card spikes"><table><thead><tr><th class="num">#</th><th>bucket</th>'
        '<th>colour</th><th class="num">p99</th><th>phase</th><th>what caused it</th></tr>'
        f'</thead><tbody>{rows}</tbody></table></div><p class="note">{rule} {sampled}</p>'
    )


_CSS = f"""
:root {{ color-scheme: light; }}
body {{ margin: 0; background: #f6f8fa; color: #1f2328;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }}
main {{ max-width: 1040px; margin: 0 auto; padding: 24px 20px 40px; }}
h1 {{ font-size: 24px; margin: 0 0 12px; }}
h2 {{ font-size: 18px; margin: 28px 0 10px; }}
.verdict {{ display: flex; align-items: center; gap: 14px; font-size: 18px; margin: 0; }}
.badge {{ color: #fff; font-weight: 700; letter-spacing: .06em; padding: 4px 14px;
  border-radius: 6px; font-size: 20px; }}
.badge.pass {{ background: #1a7f37; }}
.badge.fail {{ background: {ERROR_HEX}; }}
.mismatches {{ color: {ERROR_HEX}; margin: 10px 0 0; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 16px 0 0; }}
dt {{ color: #59636e; }}
dd {{ margin: 0; }}
code {{ background: #eaeef2; padding: 1px 5px; border-radius: 4px; font-size: 13px; }}
.card {{ background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 12px;
  overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }}
th, td {{ padding: 5px 12px; text-align: left; border-bottom: 1px solid #eaeef2; }}
thead th {{ border-bottom: 2px solid #d1d9e0; color: #59636e; font-weight: 600; }}
tbody th {{ font-weight: 600; vertical-align: top; }}
tr.first > * {{ border-top: 1px solid #d1d9e0; }}
td.window {{ color: #59636e; vertical-align: top; white-space: nowrap; }}
.num {{ text-align: right; }}
td.bad {{ color: #fff; background: {ERROR_HEX}; font-weight: 700; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; }}
svg {{ display: block; max-width: 100%; height: auto;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }}
svg .band {{ fill: #f3f5f8; }}
svg .frame {{ fill: none; stroke: #8c959f; }}
svg .grid {{ stroke: #e4e8ec; }}
svg .tick {{ font-size: 12px; fill: #59636e; }}
svg .axis-title, svg .legend {{ font-size: 13px; fill: #1f2328; }}
svg .panel-title, svg .phase-label {{ paint-order: stroke; stroke: #fff; stroke-width: 5px;
  stroke-linejoin: round; }}
svg .panel-title {{ font-size: 13px; font-weight: 600; fill: #1f2328; }}
svg .loud {{ fill: {ERROR_HEX}; font-weight: 700; }}
svg .calm {{ fill: #1a7f37; }}
svg .empty {{ font-size: 14px; fill: #59636e; }}
svg .series {{ fill: none; stroke-width: 2; stroke-linejoin: round; }}
svg .error-column {{ fill: {ERROR_HEX}; fill-opacity: .12; }}
svg .error-bar {{ fill: {ERROR_HEX}; stroke-width: 1.5; }}
svg .error-count {{ font-size: 13px; font-weight: 700; fill: {ERROR_HEX}; }}
svg .phase-boundary {{ stroke: #57606a; stroke-width: 1.2; }}
svg .phase-label {{ font-size: {LABEL_FONT_PX}px; fill: #1f2328; }}
svg .hover {{ fill: transparent; }}
svg .hover:hover {{ fill: rgba(31, 35, 40, .06); }}
svg .lock {{ fill: #bc4c00; fill-opacity: .28; }}
svg .spike-mark {{ font-size: 12px; font-weight: 700; fill: #bc4c00; }}
h3 {{ font-size: 15px; margin: 0 0 8px; }}
.when {{ color: #59636e; font-weight: 400; font-size: 13px; }}
.note {{ color: #59636e; font-size: 13px; }}
.snapshot {{ margin-bottom: 14px; }}
pre {{ background: #f6f8fa; border: 1px solid #eaeef2; border-radius: 6px; padding: 8px;
  font-size: 12px; white-space: pre-wrap; word-break: break-word; margin: 8px 0 0; }}
td ul {{ margin: 4px 0 0; padding-left: 18px; font-size: 13px; }}
.mark {{ font-weight: 700; font-size: 12px; padding: 1px 6px; border-radius: 4px; color: #fff; }}
.mark.pass {{ background: #1a7f37; }}
.mark.fail {{ background: {ERROR_HEX}; }}
.spikes td {{ vertical-align: top; }}
.spikes td.num {{ white-space: nowrap; }}
.bad-detail {{ color: {ERROR_HEX}; font-size: 13px; }}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(badge)s: blue/green rollout report</title>
<style>%(css)s</style>
</head>
<body>
<main>
<h1>Blue/green rollout report</h1>
<p class="verdict"><span class="badge %(badge_class)s">%(badge)s</span> %(headline)s</p>
%(mismatches)s
<dl>%(facts)s</dl>
<h2>What was rolled out</h2>
%(operations)s
<h2>Phases</h2>
<div class="card">%(table)s</div>
<h2>Timeline</h2>
<div class="card">%(svg)s</div>
<h2>Latency spikes</h2>
%(spikes)s
<h2>Locks the rollout took</h2>
%(locks)s
<h2>The schema, phase by phase</h2>
%(schema)s
<h2>Cross-colour evidence</h2>
%(evidence)s
<h2>Checks</h2>
%(checks)s
</main>
</body>
</html>
"""
