"""Short chaos campaigns with fixed seeds (about 70 s in all), and the ``hasession chaos`` command.

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
        "35",
        "--seed",
        "11",
    ]
    code = main([*argv, "--users", "6", "--report", str(report)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    written = json.loads(report.read_text())
    assert written["ok"] and written["seed"] == 11 and written["violations"] == []
    assert written["ops"] > 0 and len(written["faults"]) >= 3
    assert written["schedule"] == json.loads(Schedule.generate(seed=11, seconds=35, users=6).to_json())


@pytest.mark.timeout(300)
def test_cluster_campaign() -> None:
    report = Campaign(topology="cluster", durability="replicated", seconds=30, seed=3, users=6).run()
    assert report.ok, report.describe()
    assert report.verdict.acked > 0
    assert {f.event.kind for f in report.faults} >= {"pause-replica"}
