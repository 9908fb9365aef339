"""Child processes, their registry and free loopback ports.

Every child is started in its own session (so a Ctrl-C in the terminal reaches only the test process, which
then stops its topologies in order), with ``PR_SET_PDEATHSIG = SIGKILL`` (so the kernel kills it if the test
process dies without cleaning up), and is recorded here: an ``atexit`` hook kills whatever is still alive, and
:func:`live_children` lets tests and the pytest plugin prove that nothing leaked.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import random
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Child",
    "free_port",
    "kill_all",
    "live_children",
    "process_state",
    "release_port",
    "spawn",
    "terminate",
]

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Child:
    """A process this module started; ``start_ticks`` tells it from a later process with the same pid."""

    pid: int
    start_ticks: str
    argv: tuple[str, ...]


_registry: dict[int, tuple[Child, subprocess.Popen[bytes]]] = {}
_registry_lock = threading.Lock()


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    output: Path | None = None,
    pipes: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a tracked child, its output appended to ``output``.

    With ``pipes=True`` the child's stdin and stdout are pipes (and only stderr goes to ``output``).
    """
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(output.open("ab")) if output is not None else None
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else sink,
            stderr=sink if pipes or sink is None else subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup(),
        )
    child = Child(pid=proc.pid, start_ticks=_start_ticks(proc.pid) or "", argv=tuple(argv))
    with _registry_lock:
        _registry[proc.pid] = (child, proc)
    return proc


def _child_setup() -> Callable[[], None] | None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. A child forked
    # from a worker thread (anyio.to_thread, a thread pool) would be killed when that thread ends, so there we
    # rely on the atexit hook and the context managers only.
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def setup() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return setup


def terminate(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGKILL the child's process group (it may be stopped: SIGKILL works anyway) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def live_children() -> list[Child]:
    """The tracked children that are still running (not exited, not zombies)."""
    with _registry_lock:
        children = [child for child, _ in _registry.values()]
    return [child for child in children if _is_alive(child)]


def process_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/<pid>/stat`` (``R``, ``S``, ``T`` for stopped, ``Z``...), or None."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _is_alive(child: Child) -> bool:
    fields = _stat_fields(child.pid)
    return bool(fields) and fields[0] not in "ZX" and fields[19] == child.start_ticks


def _start_ticks(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def _stat_fields(pid: int) -> list[str]:
    """Fields 3.. of /proc/<pid>/stat (state first); split after ')' as the command may contain spaces."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rpartition(")")[2].split()


@atexit.register
def kill_all() -> None:
    """SIGKILL and reap every tracked child that is still running (also run at interpreter exit)."""
    with _registry_lock:
        procs = [proc for _, proc in _registry.values()]
    for proc in procs:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            terminate(proc, timeout=2.0)


# -- ports --------------------------------------------------------------------------------------------------

_handed_out: set[int] = set()
_ports_lock = threading.Lock()
_LOWEST_PORT = 11000
_CLUSTER_BUS_OFFSET = 10000


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range, never handed out twice by this process.

    Ports are drawn below ``ip_local_port_range`` because the kernel gives ephemeral ports to outgoing
    connections (hundreds of them in a failover test), so a port found by binding port 0 can be taken again
    before redis-server binds it. The range also leaves room for a cluster bus port (``port + 10000``), which
    is checked too, and it never includes 6379.
    """
    highest = _ephemeral_low() - _CLUSTER_BUS_OFFSET - 1
    with _ports_lock:
        for _ in range(200):
            port = random.randint(_LOWEST_PORT, highest)
            if port not in _handed_out and _is_free(port) and _is_free(port + _CLUSTER_BUS_OFFSET):
                _handed_out.add(port)
                return port
    raise OSError("no free loopback port found")


def release_port(port: int) -> None:
    """Let :func:`free_port` hand ``port`` out again (its server is stopped for good)."""
    with _ports_lock:
        _handed_out.discard(port)


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, _LOWEST_PORT + _CLUSTER_BUS_OFFSET + 1000)


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
