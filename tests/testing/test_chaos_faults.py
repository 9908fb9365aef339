"""The fault lanes: a fault that fails, and one that never returns, are recorded and the lane goes on."""

from __future__ import annotations

import threading

import pytest

from hasession.testing import _chaos_faults
from hasession.testing.chaos import FaultEvent, History


class Scripted(_chaos_faults.Faults):
    """Faults that succeed, fail or hang by kind."""

    def __init__(self) -> None:
        super().__init__(threading.Event())
        self.release = threading.Event()
        self.settled = 0

    def run(self, event: FaultEvent) -> str:
        if event.kind == "fails":
            raise RuntimeError("no replica to promote\nlog tails ...")
        if event.kind == "hangs":
            self.release.wait(30)
        return f"node-{event.kind}"

    def settle(self) -> None:
        self.settled += 1


def test_failed_and_hung_faults_are_recorded_and_the_lane_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_chaos_faults, "FAULT_LIMIT", 0.3)
    faults, history = Scripted(), History()
    events = [FaultEvent(at=0, kind=kind, lane="data") for kind in ("fails", "hangs", "works")]
    try:
        _chaos_faults.run_lane(events, faults, history, 0.0, lambda line: None)
    finally:
        faults.release.set()
    notes = {record.event.kind: (record.target, record.note) for record in history.faults}
    assert notes["fails"] == ("", "fault failed: RuntimeError: no replica to promote")
    assert notes["hangs"][1].startswith(_chaos_faults.HUNG)
    assert notes["works"] == ("node-works", "")
    assert faults.settled == 3  # the topology is made whole after every data fault
