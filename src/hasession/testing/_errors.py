"""The errors raised by the test harness.

```
* HarnessError
  x StartupError              (a process or topology did not become ready; carries log tails)
  x WaitTimeout(TimeoutError) (a condition did not hold in time)
```

These are harness failures, not session errors, so they stay out of ``hasession._exceptions``.
"""

from __future__ import annotations

__all__ = ["HarnessError", "StartupError", "WaitTimeout"]


class HarnessError(Exception):
    """Base class of every error raised by :mod:`hasession.testing`.

    .. versionadded:: 0.1
    """


class StartupError(HarnessError):
    """A process or a topology did not become ready in time, or exited while starting.

    The message ends with the tail of the relevant log files.

    .. versionadded:: 0.1
    """


class WaitTimeout(HarnessError, TimeoutError):
    """A :func:`~hasession.testing.wait_until` condition did not hold before its timeout.

    .. versionadded:: 0.1
    """
