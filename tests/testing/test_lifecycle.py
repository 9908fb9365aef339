"""Every process the harness starts is stopped: on exit, on Ctrl-C, and when the test process is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hasession.testing import SentinelTopology, wait_until
from hasession.testing._process import live_children, process_state

pytestmark = pytest.mark.slow


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie waiting for its (new) parent to reap it."""
    return process_state(pid) in (None, "Z", "X")


def test_a_stopped_topology_leaves_no_process_and_no_folder() -> None:
    before = {child.pid for child in live_children()}
    with SentinelTopology(replicas=1, sentinels=1, proxied=True) as topology:
        started = {child.pid for child in live_children()} - before
        assert len(started) == 4  # master, replica, sentinel, proxy
        workdir = topology.workdir
    assert all(gone(pid) for pid in started)
    assert {child.pid for child in live_children()} <= before
    assert not workdir.exists()


def test_a_topology_that_fails_to_start_stops_what_it_started() -> None:
    before = {child.pid for child in live_children()}
    topology = SentinelTopology(replicas=1, sentinels=1, redis_config={"no-such-directive": "1"})
    with pytest.raises(Exception, match="Bad directive"):
        topology.start()
    assert {child.pid for child in live_children()} <= before


CHILD = """
import json, signal, sys
# The test process a user stops with Ctrl-C. A shell that starts a job in the background without job control
# (`nohup make test &`, some CI runners) hands SIGINT down ignored, and Python then leaves it ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from hasession.testing import SentinelTopology
topology = SentinelTopology(replicas=1, sentinels=1, proxied=True, tmpdir=sys.argv[2]).start()
pids = [node.pid for node in topology.nodes + topology.sentinels]
print(json.dumps({"pids": pids, "workdir": str(topology.workdir)}), flush=True)
if sys.argv[1] == "block":
    sys.stdin.read()
"""


@pytest.fixture
def child(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    argv = [sys.executable, str(script), request.param, str(tmp_path)]
    with (
        (tmp_path / "child.stderr").open("w") as stderr,
        subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
        ) as proc,
    ):
        yield proc
        proc.kill()


def exit_code(child: subprocess.Popen[str], tmp_path: Path) -> int:
    try:
        return child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the child did not exit:\n" + (tmp_path / "child.stderr").read_text())


def started_by(proc: subprocess.Popen[str]) -> tuple[list[int], Path]:
    assert proc.stdout is not None
    report = json.loads(proc.stdout.readline())
    return report["pids"], Path(report["workdir"])


@pytest.mark.parametrize("child", ["exit"], indirect=True)
def test_processes_die_when_the_test_process_exits_without_stopping(
    child: subprocess.Popen[str], tmp_path: Path
) -> None:
    pids, workdir = started_by(child)
    assert exit_code(child, tmp_path) == 0
    assert all(gone(pid) for pid in pids)
    assert not workdir.exists()


@pytest.mark.parametrize("child", ["block"], indirect=True)
def test_processes_die_on_ctrl_c(child: subprocess.Popen[str], tmp_path: Path) -> None:
    pids, workdir = started_by(child)
    child.send_signal(signal.SIGINT)
    assert exit_code(child, tmp_path) != 0
    assert all(gone(pid) for pid in pids)
    assert not workdir.exists()


@pytest.mark.parametrize("child", ["block"], indirect=True)
def test_processes_die_when_the_test_process_is_killed(child: subprocess.Popen[str]) -> None:
    pids, workdir = started_by(child)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    # PR_SET_PDEATHSIG: the kernel kills the children; no Python code ran in the dead process.
    wait_until(lambda: all(gone(pid) for pid in pids), timeout=10, message="the orphans to die")
    assert workdir.exists()  # nothing could delete it; it lives under tmp_path
