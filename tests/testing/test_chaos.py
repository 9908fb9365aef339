"""Short chaos campaigns with fixed seeds (about 45 s in all), and the ``hasession chaos`` command.

The seeds are chosen so that the short schedules hold every kind of fault that the longer ones they
replaced (Sentinel seed 11 over 35 s, Cluster seed 3 over 30 s) held, and ``pause-short`` too: Sentinel
kill, pause-short, pause-long, sentinel-failover, switchover, restart-replica-empty, kill-sentinel and
slow-link; Cluster kill, pause-short, cluster-failover, restart-replica, pause-replica and slow-link
(``Schedule.generate(seed=..., seconds=..., users=6).describe()`` prints them).

A failing campaign prints its report: the violations, the faults as they ran and the schedule; the same seed
replays the same schedule (``hasession chaos ... --seed S``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hasession._cli import main
from hasession.testing.chaos import Campaign, Schedule

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_sentinel_campaign_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    argv = [
        "chaos",
        "--topology",
        "sentinel",
        "--durability",
        "replicated",
        "--seconds",
        "25",
        "--seed",
        "113",
    ]
    code = main([*argv, "--users", "6", "--report", str(report)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    written = json.loads(report.read_text())
    assert written["ok"] and written["seed"] == 113 and written["violations"] == []
    assert written["ops"] > 0 and len(written["faults"]) >= 3
    assert written["schedule"] == json.loads(Schedule.generate(seed=113, seconds=25, users=6).to_json())


@pytest.mark.timeout(300)
def test_cluster_campaign() -> None:
    report = Campaign(topology="cluster", durability="replicated", seconds=18, seed=24, users=6).run()
    assert report.ok, report.describe()
    assert report.verdict.acked > 0
    assert {f.event.kind for f in report.faults} >= {"pause-replica"}
