"""The demo's report renderers, on a synthetic rollout and on a recorded quick run: no
database, no Django, no browser."""

from __future__ import annotations

import copy
import html
import json
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from demo_project import spikes
from demo_project.__main__ import OUT, parse_args, report_path
from demo_project.report import render_html, render_terminal, verdict

BUCKET_S = 0.5
# (name, start, end, share of traffic on green)
PHASES = [
    ("blue only", 0.0, 4.0, 0.0),
    ("expand (migrate under traffic)", 4.0, 6.5, 0.0),
    ("both colours 25% green", 6.5, 10.5, 0.25),
    ("both colours 50%", 10.5, 14.5, 0.5),
    ("both colours 100% green", 14.5, 18.5, 1.0),
    ("complete", 18.5, 20.0, 1.0),
]
FAILING_BUCKET = 5.0  # mid-migrate: two blue requests fail here


def synthetic_result() -> dict[str, Any]:
    """A passing-shaped rollout with 40 requests a bucket split between the colours."""
    timeline = []
    phases = []
    for name, start, end, green_share in PHASES:
        colours: dict[str, dict[str, float]] = {}
        t = start
        while t < end - 1e-9:
            for colour, share in (("blue", 1 - green_share), ("green", green_share)):
                requests = round(40 * share)
                errors = 2 if colour == "blue" and t == FAILING_BUCKET else 0
                p99 = 180.0 if name.startswith("expand") else 12.0 + 3 * share
                p50, p99 = (4.0, p99) if requests else (0.0, 0.0)
                timeline.append(
                    {
                        "t_s": t,
                        "colour": colour,
                        "requests": requests,
                        "errors": errors,
                        "p50_ms": p50,
                        "p99_ms": p99,
                    }
                )
                if requests:
                    totals = colours.setdefault(
                        colour, {"requests": 0, "errors": 0, "p50_ms": 4.0, "p99_ms": 0.0}
                    )
                    totals["requests"] += requests
                    totals["errors"] += errors
                    totals["p99_ms"] = max(totals["p99_ms"], p99)
            t += BUCKET_S
        phases.append({"name": name, "start_s": start, "end_s": end, "colours": colours})
    return {
        "path": "complete",
        "errors": sum(s["errors"] for s in timeline),
        "rows_written": 1234,
        "rows_verified": 1234,
        "mismatches": [],
        "duration_s": 20.0,
        "final_columns": ["id", "isbn", "name", "in_stock", "price"],
        "phases": phases,
        "timeline": timeline,
        "run_id": "extra keys are ignored",
    }


@pytest.fixture
def clean() -> dict[str, Any]:
    """The synthetic rollout with its failing bucket healed, so it passes."""
    result = synthetic_result()
    for sample in result["timeline"]:
        sample["errors"] = 0
    for phase in result["phases"]:
        for stats in phase["colours"].values():
            stats["errors"] = 0
    result["errors"] = 0
    return result


def points_per_colour(page: str, panel: str) -> dict[str, list[int]]:
    """How many points each of a panel's lines has, by colour."""
    found = re.findall(
        rf'<polyline[^>]*data-panel="{panel}" data-colour="(\w+)"[^>]*points="([^"]*)"', page
    )
    counts: dict[str, list[int]] = {}
    for colour, points in found:
        counts.setdefault(colour, []).append(len(points.split()))
    return counts


def test_clean_run_passes(clean):
    assert verdict(clean) == (
        True,
        "0 failed requests, 1234/1234 rows verified (path: complete)",
    )
    assert render_terminal(clean).startswith(
        "PASS  0 failed requests, 1234/1234 rows verified (path: complete)\n"
    )
    page = render_html(clean)
    assert '<span class="badge pass">PASS</span>' in page
    assert "— none" in page


@pytest.mark.parametrize(
    "change, headline",
    [
        ({"errors": 1}, "1 failed request, 1234/1234"),
        ({"rows_verified": 1233}, "0 failed requests, 1233/1234"),
        ({"rows_written": 0, "rows_verified": 0}, "0 failed requests, 0/0"),
        ({"mismatches": ["book 7: price 9.99 != 9.90"]}, "0 failed requests, 1234/1234"),
    ],
)
def test_any_failure_alone_fails_the_run(clean, change, headline):
    result = {**clean, **change}
    assert verdict(result)[0] is False
    assert render_terminal(result).startswith(f"FAIL  {headline}")
    assert '<span class="badge fail">FAIL</span>' in render_html(result)


def test_mismatches_are_listed_up_to_ten(clean):
    result = {**clean, "path": "rollback", "mismatches": [f"book {i} missing" for i in range(13)]}
    text = render_terminal(result)
    assert "(path: rollback)" in text
    assert "  - book 9 missing\n  - and 3 more\n" in text
    assert "book 10 missing" not in text
    page = render_html(result)
    assert "<li>book 9 missing</li><li>and 3 more</li>" in page
    assert "book 10 missing" not in page


def test_every_phase_appears_in_both_outputs():
    result = synthetic_result()
    text, page = render_terminal(result), render_html(result)
    for name, *_ in PHASES:
        assert name in text
        assert name in page
    rows = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│ ")]
    assert [row for row in rows if row] == ["phase"] + [name for name, *_ in PHASES]


def test_terminal_table_rows_carry_the_numbers():
    text = render_terminal(synthetic_result())
    expand = next(line for line in text.splitlines() if "expand (migrate" in line)
    cells = [c.strip() for c in expand.strip("│").split("│")]
    assert cells == [
        "expand (migrate under traffic)",
        "4.0–6.5",
        "blue",
        "200",
        "2",
        "4.0",
        "180.0",
    ]
    half = [line for line in text.splitlines() if "both colours 50%" in line][0]
    green = text.splitlines()[text.splitlines().index(half) + 1]
    assert [c.strip() for c in green.strip("│").split("│")][2:5] == ["green", "160", "0"]
    # a colour with no traffic in a phase gets no row
    assert "green" not in text.splitlines()[text.splitlines().index(expand) + 1]
    widths = {len(line) for line in text.splitlines() if line.startswith(("│", "┌", "├", "└"))}
    assert len(widths) == 1, "table columns are not aligned"
    assert "final columns: id, isbn, name, in_stock, price\n" in text
    assert text.endswith("duration: 20.0 s\n")


def test_html_table_carries_the_numbers():
    page = render_html(synthetic_result())
    assert '<td class="num bad">2</td>' in page
    assert '<td class="num">160</td>' in page
    assert "<code>in_stock</code>" in page


def test_terminal_colour_is_opt_in():
    result = synthetic_result()
    assert "\x1b[" not in render_terminal(result)
    coloured = render_terminal(result, color=True)
    assert "\x1b[34mblue" in coloured and "\x1b[32mgreen" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render_terminal(result)


def test_html_is_one_self_contained_svg_page():
    page = render_html(synthetic_result())
    assert page.count("<svg") == 1 and page.count("</svg>") == 1
    assert "<script" not in page
    assert not re.search(r"""(src|href)=|@import|url\(""", page), "nothing may be fetched"


def test_one_dashed_line_per_phase_start():
    page = render_html(synthetic_result())
    lines = re.findall(r'<line class="phase-boundary" x1="([\d.]+)"[^>]*stroke-dasharray', page)
    assert len(lines) == len(PHASES) + 1  # and one in the legend
    starts = sorted(float(x) for x in lines[: len(PHASES)])
    assert starts == sorted(set(starts)), "two phases drawn at one x"


def test_phase_labels_do_not_overlap():
    page = render_html(synthetic_result())
    labels = re.findall(r'<text class="phase-label" x="([\d.]+)" y="([\d.]+)">([^<]*)', page)
    assert [name for *_, name in labels] == [name for name, *_ in PHASES]
    by_row: dict[str, list[tuple[float, float]]] = {}
    for x, y, name in labels:
        by_row.setdefault(y, []).append((float(x), float(x) + 7 * len(name)))
    for spans in by_row.values():
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start
    assert len(by_row) > 1, "phases 'expand' and '25% green' are too close for one row"


def test_svg_has_one_point_per_bucket_and_colour():
    result = synthetic_result()
    buckets = {c: sum(s["colour"] == c for s in result["timeline"]) for c in ("blue", "green")}
    assert buckets == {"blue": 40, "green": 40}
    page = render_html(result)
    for panel in ("requests", "errors"):
        assert points_per_colour(page, panel) == {"blue": [40], "green": [40]}
    # latency exists only where a colour served: blue until 14.5 s, green from 6.5 s
    assert points_per_colour(page, "p99") == {"blue": [29], "green": [27]}


def test_latency_gaps_split_the_line():
    result = synthetic_result()
    for sample in result["timeline"]:
        if sample["colour"] == "blue" and sample["t_s"] in (2.0, 9.0, 9.5):
            sample["requests"] = 0
    assert points_per_colour(render_html(result), "p99")["blue"] == [4, 13, 9]


def test_failing_bucket_is_drawn_loud():
    page = render_html(synthetic_result())
    bars = re.findall(r'<rect class="error-bar"[^>]*><title>([^<]*)</title>', page)
    assert bars == ["blue at 5 s: 2 failed"]
    assert '<tspan class="loud">— 2 failed</tspan>' in page


def test_strings_from_the_result_are_escaped():
    result = synthetic_result()
    result["phases"][1]["name"] = "<script>alert(1)</script>"
    result["mismatches"] = ["<b>&</b>"]
    result["final_columns"] = ['"><img>']
    page = render_html(result)
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in page


def test_missing_optional_keys_and_empty_timeline():
    result = synthetic_result()
    for key in ("mismatches", "timeline", "final_columns", "duration_s"):
        del result[key]
    text, page = render_terminal(result), render_html(result)
    assert text.startswith("FAIL  2 failed requests")
    assert "final columns" not in text and "duration" not in text
    assert page.count("<svg") == 1 and "no timeline samples" in page
    assert "<polyline" not in page
    for name, *_ in PHASES:
        assert name in page

    bare = {"path": "rollback", "errors": 0, "rows_written": 0, "rows_verified": 0, "phases": []}
    assert render_terminal(bare).startswith("FAIL  0 failed requests, 0/0 rows verified")
    assert render_html({**bare, "timeline": []}).count("<svg") == 1


def test_renderers_leave_the_result_alone():
    result = synthetic_result()
    before = copy.deepcopy(result)
    render_terminal(result, color=True)
    render_html(result)
    assert result == before


# A quick run's result, recorded with `python -m demo_project --quick --json PATH`: what
# the sections below render comes from a real rollout, its status output and its locks.
QUICK_RUN = Path(__file__).resolve().parent / "data" / "demo_quick_result.json"


@pytest.fixture
def quick() -> dict[str, Any]:
    return json.loads(QUICK_RUN.read_text())


def section(page: str, title: str) -> str:
    """The page from heading ``title`` to the next h2."""
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end > 0 else len(page)]


def test_the_operations_rolled_out_are_named(quick):
    part = section(render_html(quick), "What was rolled out")
    kinds = re.findall(r"<td><code>(\w+Compat\w+)</code></td>", part)
    assert kinds == [
        "RenameCompatColumn",
        "RenameCompatColumn",
        "AlterCompatColumn",
        "RemoveCompatColumn",
        "AddCompatColumn",
    ]
    assert "<code>title → name</code>" in part
    assert (
        "up <code>price / 100.0</code>" in part
        and "down <code>&#x27;paperback&#x27;</code>" in part
    )
    assert part.count("bookshop.0002_rollout") == 5
    assert "Legacy colour blue (schema compat_blue)" in part


def test_the_schema_and_compat_status_at_each_phase(quick):
    part = section(render_html(quick), "The schema, phase by phase")
    labels = re.findall(
        r'<div class="card snapshot"><h3>([^<]*) <span class="when">phase ([^,]*),', part
    )
    assert labels == [
        ("before the rollout", "setup"),
        ("after the expand and its backfill", "expand"),
        ("before `compat complete`", "complete"),
        ("after `compat complete`", "verify"),
    ]
    cards = part.split('<div class="card snapshot">')[1:]
    assert (
        "every colour reads the table itself, columns <code>id</code>, <code>title</code>"
        in cards[0]
    )
    assert "No rollout is pending." in cards[0]
    expand = cards[1]
    assert "<td><code>title</code></td><td><code>name</code></td><td>renamed" in expand
    assert re.search(
        r"<td><code>format</code></td><td><code>_compat_format_\w+</code></td><td>kept aside",
        expand,
    )
    assert "<td>—</td><td><code>slug</code></td><td>new shape only" in expand
    assert (
        "legacy view shows: <code>id</code>, <code>title</code>, <code>price_cents</code>" in expand
    )
    assert "$ manage.py compat status\nRollout 1: legacy colour blue" in expand
    assert "Connected sessions: 0 legacy" in cards[2]  # blue had gone before complete
    assert "columns <code>id</code>, <code>name</code>" in cards[3]


def test_the_cross_colour_evidence_comes_from_the_ledger(quick):
    blue, green = quick["cross_reads"]["blue"], quick["cross_reads"]["green"]
    assert blue > 0 and green > 0
    for text in (
        html.unescape(section(render_html(quick), "Cross-colour evidence")),
        render_terminal(quick),
    ):
        assert f"blue read {blue:,} rows green wrote last" in text
        assert f"green read {green:,} rows blue wrote last" in text
        creates = quick["writes"]["blue"]["creates"] - quick["shelf"]
        assert f"blue's traffic created {creates:,} and updated" in text
        assert "(besides the 300 books loaded before it)" in text


def test_every_check_is_listed_with_its_outcome(quick):
    part = section(render_html(quick), "Checks")
    assert f"{len(quick['checks'])} of {len(quick['checks'])} checks passed" in part
    for check in quick["checks"]:
        assert html.escape(check["what"]) in part
    assert part.count('<span class="mark pass">pass</span>') == len(quick["checks"])

    quick["checks"][0] = {**quick["checks"][0], "ok": False, "detail": "it is green reading"}
    part = section(render_html(quick), "Checks")
    assert part.count('<span class="mark fail">FAIL</span>') == 1
    assert '<div class="bad-detail">it is green reading</div>' in part


def test_the_server_and_machine_are_named(quick):
    page = render_html(quick)
    machine = quick["machine"]
    assert f"<dt>PostgreSQL</dt><dd>{html.escape(machine['postgres_build'])}</dd>" in page
    assert f"{machine['cores']} cores, {html.escape(machine['cpu'])}" in page
    assert html.escape(machine["os"]) in page


def test_the_spike_of_the_expand_is_the_migrate_holding_its_lock(quick):
    found = spikes.explain(quick, 0.5)
    expand = [s for s in found if s["phase"] == "expand"]
    assert expand, found
    (spike,) = expand
    assert spike["colour"] == "blue" and spike["p99_ms"] > 3 * spike["typical_ms"]
    assert spike["cause"].startswith("lock: blue's requests waited for a lock — the expand's DDL")
    assert any("blocked by compat_green:manage.py migrate" in line for line in spike["evidence"])
    assert any(
        line.startswith(
            "compat_green:manage.py migrate held ACCESS EXCLUSIVE on public.bookshop_book"
        )
        for line in spike["evidence"]
    )
    part = section(render_html(quick), "Latency spikes")
    assert html.escape(spike["cause"]) in part
    assert "every 50 ms" in part
    # the chart marks each spike and stripes each ACCESS EXCLUSIVE the watcher saw
    page = render_html(quick)
    assert page.count('class="spike-mark"') == len(found) + 1  # and one in the legend
    assert '<rect class="lock"' in page


def lone_spike(**extra: Any) -> dict[str, Any]:
    """One colour at 10 ms a bucket but one bucket at 400 ms, at 5 s of a 10 s run."""
    timeline = [
        {"t_s": t / 2, "colour": "green", "requests": 20, "p99_ms": 400.0 if t == 10 else 10.0}
        for t in range(20)
    ]
    phases = [
        {"name": "before", "start_s": 0.0, "end_s": 4.8},
        {"name": "after", "start_s": 4.8, "end_s": 10.0},
    ]
    return {"timeline": timeline, "phases": phases, **extra}


def test_a_spike_with_no_lock_and_no_step_is_called_noise():
    (spike,) = spikes.explain(lone_spike(), 0.5)
    assert (spike["t_s"], spike["phase"], spike["boundary"]) == (5.0, "after", True)
    assert spike["cause"].startswith("no step, lock or cold start")
    assert spike["evidence"] == []


def test_a_step_running_without_a_lock_wait_is_cpu():
    steps = [{"what": "[green] manage.py compat status", "from_s": 4.9, "to_s": 5.3}]
    (spike,) = spikes.explain(
        lone_spike(steps=steps, locks={"period_s": 0.05, "intervals": []}), 0.5
    )
    assert spike["cause"].startswith("CPU: no lock wait seen (sampled every 50 ms) while [green]")
    assert spike["evidence"] == ["step [green] manage.py compat status ran 4.90–5.30 s"]


def test_a_lock_held_elsewhere_in_time_explains_nothing():
    held = {
        "from_s": 8.0,
        "to_s": 8.2,
        "app": "compat_green:manage.py compat rollback",
        "mode": "AccessExclusiveLock",
        "relation": "public.t",
        "granted": True,
        "queries": [],
        "blocked_by": "",
    }
    locks = {"period_s": 0.05, "intervals": [held]}
    assert spikes.explain(lone_spike(locks=locks), 0.5)[0]["cause"].startswith("no step")
    locks["intervals"] = [{**held, "from_s": 5.2, "to_s": 5.3}]
    (spike,) = spikes.explain(lone_spike(locks=locks), 0.5)
    assert spike["cause"].startswith(
        "lock: green's requests ran into an ACCESS EXCLUSIVE lock — rollback's"
    )
    assert "held ACCESS EXCLUSIVE on public.t (5.20–5.30 s)" in spike["evidence"][0]


def test_first_requests_of_a_colour_are_a_cold_start_and_small_p99s_no_spike():
    result = lone_spike()
    result["timeline"][0]["p99_ms"] = 300.0
    first, _ = spikes.explain(result, 0.5)
    assert first["cause"].startswith("cold start: green's first requests")
    for sample in result["timeline"]:
        sample["p99_ms"] = min(sample["p99_ms"], spikes.SPIKE_MIN_MS - 1)
    assert spikes.explain(result, 0.5) == []
    assert "No latency spike." in render_html(result)


@pytest.mark.parametrize(
    "argv, name",
    [
        ([], "report.html"),
        (["--quick"], "report-quick.html"),
        (["--rollback", "--quick"], "report-quick.html"),
    ],
)
def test_a_quick_run_leaves_the_full_runs_report_alone(argv, name):
    assert report_path(parse_args(argv)) == OUT / name
    assert report_path(parse_args([*argv, "--html", "elsewhere.html"])) == Path("elsewhere.html")


def test_the_locks_each_command_took_are_listed_first_to_last(quick):
    part = section(render_html(quick), "Locks the rollout took")
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td><code>([^<]*)</code></td>"
        r'<td class="window">([\d.]+)–([\d.]+) s</td>',
        part,
    )
    assert ("compat_green:manage.py migrate", "ACCESS EXCLUSIVE", "public.bookshop_book") in [
        row[:3] for row in rows
    ]
    assert ("compat_blue:gunicorn waiting", "ROW SHARE", "public.bookshop_book") in [
        row[:3] for row in rows
    ]
    assert [float(row[3]) for row in rows] == sorted(float(row[3]) for row in rows)
    assert all(row[0].endswith(" waiting") or "manage.py " in row[0] for row in rows)
