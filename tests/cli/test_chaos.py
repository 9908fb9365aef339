"""``hasession chaos``: exit status, what a failing campaign prints, and replaying a saved schedule.

The campaign itself is replaced by a stub here; real campaigns run in ``tests/testing/test_chaos.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hasession._cli import main
from hasession.testing.chaos import Campaign, FaultEvent, FaultRecord, Report, Schedule, Verdict, Violation


def test_a_violation_exits_non_zero_with_the_seed_and_the_schedule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(self: Campaign, log: object = None) -> Report:
        verdict = Verdict(
            violations=[Violation(kind="stale-read", user=3, at=12.5, detail="count=4, 2 below")]
        )
        return Report(
            campaign=self,
            schedule=self.make_schedule(),
            verdict=verdict,
            faults=(),
            seconds=20.0,
            started=0.0,
        )

    monkeypatch.setattr(Campaign, "run", failing)
    assert main(["chaos", "--seed", "77", "--seconds", "20", "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "stale-read" in printed
    assert Schedule.generate(seed=77, seconds=20).describe() in printed
    assert "hasession chaos --topology sentinel --durability replicated --seconds 20 --seed 77" in printed


def test_a_saved_schedule_is_replayed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[Campaign] = []

    def passing(self: Campaign, log: object = None) -> Report:
        ran.append(self)
        return Report(
            campaign=self, schedule=self.make_schedule(), verdict=Verdict(), faults=(), seconds=1, started=0
        )

    monkeypatch.setattr(Campaign, "run", passing)
    saved = Schedule.generate(seed=5, topology="cluster", seconds=40, users=4)
    path = tmp_path / "schedule.json"
    path.write_text(saved.to_json())
    assert main(["chaos", "--schedule", str(path), "--users", "4", "--quiet"]) == 0
    assert ran[0].make_schedule() == saved
    assert (ran[0].topology, ran[0].seed, ran[0].seconds) == ("cluster", 5, 40)
    assert "PASS" in capsys.readouterr().out


def test_minimize_replays_the_faults_around_the_first_violation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = (
        FaultEvent(at=2.0, kind="kill", lane="data", outage=4.0),
        FaultEvent(at=20.0, kind="sentinel-failover", lane="data", outage=4.0),
        FaultEvent(at=21.5, kind="kill-sentinel", lane="soft", duration=3.0, pick=0.01, outage=3.0),
    )
    full = Schedule(seed=9, topology="sentinel", seconds=40, users=8, events=events)
    records = (
        FaultRecord(event=events[0], start=102.0, end=106.0),
        FaultRecord(event=events[1], start=120.0, end=150.0),
        FaultRecord(event=events[2], start=121.5, end=124.5),
    )
    runs: list[Schedule] = []

    def failing(self: Campaign, log: object = None) -> Report:
        runs.append(self.make_schedule())
        verdict = Verdict(violations=[Violation(kind="error", user=1, at=20.5, detail="StoreUnavailable")])
        return Report(
            campaign=self,
            schedule=self.make_schedule(),
            verdict=verdict,
            faults=records,
            seconds=40,
            started=100.0,
        )

    monkeypatch.setattr(Campaign, "run", failing)
    monkeypatch.setattr(Schedule, "generate", classmethod(lambda cls, **kw: full))
    assert main(["chaos", "--seed", "9", "--seconds", "40", "--minimize", "--quiet"]) == 1
    reduced = runs[1]
    assert [(e.kind, e.at) for e in reduced.events] == [("sentinel-failover", 2.0), ("kill-sentinel", 3.5)]
    assert reduced.seconds == pytest.approx(3.5 + 3.0 + 3.0 + 6.0)
    printed = capsys.readouterr().out
    assert "minimize: replaying 2 of 3 faults" in printed
    assert Schedule.from_json(printed.split("--schedule FILE):\n", 1)[1]) == reduced
