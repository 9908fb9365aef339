"""The demo and drill report: series, JSON summary, a self-contained HTML page; then the real commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hasession._cli._report import Run, render_html, summary, timeline
from hasession._cli._users import Outcome, Tally
from hasession.testing import SentinelTopology

T0 = 1000.0


def outcome(at: float, seconds: float, status: str = "ok") -> Outcome:
    return Outcome(status, 1, True, T0 + at, seconds)


def test_timeline_bins_answers_by_arrival() -> None:
    points = timeline([outcome(0.1, 0.1), outcome(0.2, 0.1), outcome(1.1, 2.0), outcome(3.2, 0.1, "503")], T0)
    assert [p.at for p in points] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert points[0].rps == 4.0  # two answers in half a second
    assert points[1].rps == 0.0  # the held request answered later, at 3.1 s
    assert points[6].hold_ms == 2000.0
    assert (points[6].errors, points[6].rps) == (1, 2.0)


def run_with(*outcomes: Outcome) -> Run:
    tally = Tally()
    for o in outcomes:
        tally.add(o, 0, False)
    return Run(
        label="hasession <app>", tallies={"kill -9": tally}, events=[(T0 + 1.0, "kill -9")], started=T0
    )


def test_summary_counts_problems() -> None:
    data = summary([run_with(outcome(0.1, 0.1), outcome(0.2, 0.1, "StoreUnavailable"))])
    (run,) = data["runs"]  # type: ignore[misc]
    assert run["problems"] == 1
    assert run["phases"]["kill -9"]["errors"] == 1
    assert run["events"] == [{"at": 1.0, "text": "kill -9"}]
    json.dumps(data)  # serialisable


def test_the_page_is_self_contained_and_marks_the_faults() -> None:
    page = render_html("demo <report>", [run_with(outcome(0.1, 0.1), outcome(2.0, 1.5))])
    assert page.count("<svg") == 3
    assert "kill -9" in page
    assert "stroke-dasharray" in page  # the fault line
    assert "demo &lt;report&gt;" in page and "hasession &lt;app&gt;" in page  # escaped
    links = set(re.findall(r"(?:src|href)=|https?://[^\"' ]+", page))
    assert links == {"http://www.w3.org/2000/svg"}  # no external asset, only the SVG namespace


def hasession(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hasession", *args], capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.slow
def test_demo_reports_what_users_saw_as_text_json_and_a_page(tmp_path: Path) -> None:
    """One demo run: its table (stderr with ``--json``), its JSON summary and its page."""
    report = tmp_path / "demo.html"
    users = 4
    done = hasession(
        "demo", "--users", str(users), "--skip-baseline", "--json", "--no-live", "--report", str(report)
    )
    assert "What the users saw" in done.stderr, done.stdout + done.stderr
    data = json.loads(done.stdout)  # stdout is only the JSON; the progress went to stderr
    (run,) = data["runs"]
    assert run["label"] == "hasession"
    phases = run["phases"]
    assert list(phases) == [
        "steady load",
        "kill -9 of the master",
        "SENTINEL FAILOVER",
        "hasession switchover",
    ]
    for name, phase in phases.items():
        assert phase["requests"] > 0
        assert (phase["errors"], phase["lost_sessions"]) == (0, 0), (name, phase)
        # async durability (the demo's): a forced SENTINEL FAILOVER or a kill -9 may lose a write
        # the old master acknowledged just before the fence, at most one in flight per user; the
        # steady load and the switchover lose none.
        raw = name in ("kill -9 of the master", "SENTINEL FAILOVER")
        assert phase["lost_writes"] <= (users if raw else 0), (name, phase)
    assert run["problems"] == sum(p["lost_writes"] for p in phases.values())
    assert done.returncode == (1 if run["problems"] else 0), done.stderr  # the demo says so
    assert [e["text"] for e in run["events"] if not e["text"].endswith("done")] == [
        "kill -9 of the master",
        "SENTINEL FAILOVER",
        "hasession switchover",
    ]
    assert sum(p["rps"] for p in run["timeline"]) > 0
    page = report.read_text()
    assert page.count("<svg") == 3
    if not run["problems"]:
        assert "No user saw an error" in page


@pytest.mark.slow
def test_drill_report(hasession_redis_sentinel: SentinelTopology, tmp_path: Path) -> None:
    hasession_redis_sentinel.wait_for_replicas_synced()
    report = tmp_path / "drill.html"
    done = hasession(
        "drill",
        hasession_redis_sentinel.url,
        "--users",
        "3",
        "--seconds",
        "1",
        "--fault",
        "switchover",
        "--yes",
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    page = report.read_text()
    assert "fault: switchover" in page
    assert page.count("<svg") == 3
