"""The test process's side of the proxy: start ``_proxy.py`` as a child and send it commands."""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from pathlib import Path

from . import _process
from ._errors import HarnessError

__all__ = ["ProxyProcess"]

_REPLY_TIMEOUT = 5.0


class ProxyProcess:
    """One proxy child holding the listeners of one topology."""

    def __init__(self, workdir: Path) -> None:
        script = Path(__file__).with_name("_proxy.py")
        #: The proxy's stderr (tracebacks, if any).
        self.log_path = workdir / "proxy.log"
        argv = [sys.executable, "-I", "-u", str(script)]
        self._proc = _process.spawn(argv, cwd=workdir, output=self.log_path, pipes=True)
        self._lock = threading.Lock()
        self._buffer = b""

    def listen(self, name: str) -> int:
        """Open a listener for ``name``; return its port."""
        return int(self._request(f"listen {name}"))

    def target(self, name: str, port: int) -> None:
        """Forward ``name``'s connections to ``127.0.0.1:port``."""
        self._request(f"target {name} {port}")

    def cut(self, name: str) -> None:
        """Stop forwarding any byte of ``name``'s connections, existing and new."""
        self._request(f"cut {name}")

    def heal(self, name: str) -> None:
        """Close ``name``'s connections and forward new ones again."""
        self._request(f"heal {name}")

    def isolate(self, name: str, source: str) -> None:
        """Stop forwarding any byte of ``name``'s connections that come from the address ``source``."""
        self._request(f"isolate {name} {source}")

    def delay(self, name: str, seconds: float) -> None:
        """Hold every chunk of ``name``'s traffic, both ways, ``seconds`` before forwarding it (0: none)."""
        self._request(f"delay {name} {round(seconds * 1000)}")

    def stop(self) -> None:
        """Kill the proxy child."""
        _process.terminate(self._proc)

    def _request(self, line: str) -> str:
        assert self._proc.stdin is not None
        with self._lock:
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
            reply = self._read_line()
        status, _, rest = reply.partition(" ")
        if status != "ok":
            raise HarnessError(f"proxy refused {line!r}: {reply}")
        return rest

    def _read_line(self) -> str:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + _REPLY_TIMEOUT
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                raise HarnessError(f"the proxy did not answer (exit code {self._proc.poll()})")
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise HarnessError(f"the proxy exited; see {self.log_path}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()
