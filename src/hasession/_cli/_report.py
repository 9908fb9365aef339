"""What ``hasession demo`` and ``drill`` saw, as JSON and as a self-contained HTML page.

Pure: it turns the users' outcomes and the fault marks into per-interval series (throughput,
longest hold, errors) and draws them as inline SVG. The page loads nothing from anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ._users import Outcome, Tally

__all__ = ["Point", "Run", "render_html", "summary", "timeline"]

_WIDTH, _HEIGHT, _LEFT, _PAD = 880, 120, 60, 18


@dataclass(frozen=True, slots=True)
class Point:
    """One interval of the timeline."""

    #: Seconds since the load started (start of the interval).
    at: float
    #: Successful answers per second.
    rps: float
    #: The longest a request answered in this interval waited (ms): the hold through a failover.
    hold_ms: float
    #: Answers the users saw as errors.
    errors: int


@dataclass(frozen=True, slots=True)
class Run:
    """One app under load: what each phase saw, and when the faults happened."""

    label: str
    tallies: dict[str, Tally]
    #: ``(time.monotonic(), text)`` of each fault.
    events: Sequence[tuple[float, str]]
    started: float

    def outcomes(self) -> list[Outcome]:
        return [o for tally in self.tallies.values() for o in tally.outcomes]

    def problems(self) -> int:
        """Errors, lost writes and lost sessions, summed over every phase."""
        return sum(t.errors() + t.lost_writes + t.lost_sessions for t in self.tallies.values())


def timeline(outcomes: Iterable[Outcome], started: float, *, step: float = 0.5) -> list[Point]:
    """Per-``step`` series, by the time each answer arrived."""
    bins: dict[int, list[Outcome]] = {}
    for outcome in outcomes:
        index = max(int((outcome.started + outcome.seconds - started) / step), 0)
        bins.setdefault(index, []).append(outcome)
    if not bins:
        return []
    return [_point(i, bins.get(i, []), step) for i in range(max(bins) + 1)]


def _point(index: int, answered: list[Outcome], step: float) -> Point:
    ok = [o for o in answered if o.status == "ok"]
    return Point(
        at=round(index * step, 3),
        rps=round(len(ok) / step, 1),
        hold_ms=round(max((o.seconds for o in answered), default=0.0) * 1000, 1),
        errors=len(answered) - len(ok),
    )


def summary(runs: Sequence[Run]) -> dict[str, object]:
    """Everything a script needs: per run and phase, the counts; the faults; pass or fail."""
    return {
        "runs": [
            {
                "label": run.label,
                "problems": run.problems(),
                "phases": {name: _phase(tally) for name, tally in run.tallies.items()},
                "events": [{"at": round(at - run.started, 3), "text": text} for at, text in run.events],
                "timeline": [asdict(p) for p in timeline(run.outcomes(), run.started)],
            }
            for run in runs
        ]
    }


def _phase(tally: Tally) -> dict[str, object]:
    return {
        "requests": len(tally.outcomes),
        "errors": tally.errors(),
        "lost_writes": tally.lost_writes,
        "lost_sessions": tally.lost_sessions,
        "longest_wait_s": round(tally.blackout(), 3),
        "p99_ms": round(tally.latency(0.99) * 1000, 1),
    }


# -- HTML -------------------------------------------------------------------------------------------


def render_html(title: str, runs: Sequence[Run]) -> str:
    """A page with one block per run: a table of the phases and three charts with the faults marked."""
    blocks = "\n".join(_run_block(run) for run in runs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.bad {{ color: #b00020; font-weight: bold; }} .good {{ color: #1b7f3b; font-weight: bold; }}
svg text {{ font-size: 11px; fill: #444; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{blocks}
</body></html>
"""


def _run_block(run: Run) -> str:
    points = timeline(run.outcomes(), run.started)
    marks = [(at - run.started, text) for at, text in run.events]
    verdict = (
        '<p class="good">No user saw an error or lost data.</p>'
        if run.problems() == 0
        else f'<p class="bad">Users saw {run.problems()} problems.</p>'
    )
    charts = "".join(
        _chart(points, marks, field, label, color)
        for field, label, color in (
            ("rps", "successful requests per second", "#1f77b4"),
            ("hold_ms", "longest wait (ms)", "#ff7f0e"),
            ("errors", "errors seen by users", "#d62728"),
        )
    )
    return f"<h2>{html.escape(run.label)}</h2>\n{verdict}\n{_table(run)}\n{charts}"


def _table(run: Run) -> str:
    head = "<tr><th>phase</th><th>requests</th><th>errors</th><th>lost writes</th>"
    head += "<th>lost sessions</th><th>longest wait (s)</th><th>p99 (ms)</th></tr>"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{v}</td>" for v in _phase(tally).values())
        + "</tr>"
        for name, tally in run.tallies.items()
    )
    return f"<table>{head}{rows}</table>"


def _chart(points: list[Point], marks: list[tuple[float, str]], field: str, label: str, color: str) -> str:
    end = max([p.at for p in points] + [m for m, _ in marks] + [1.0])
    top = max([float(getattr(p, field)) for p in points] + [1.0])
    plot_width = _WIDTH - _LEFT - 10

    def x(seconds: float) -> float:
        return round(_LEFT + seconds / end * plot_width, 1)

    def y(value: float) -> float:
        return round(_PAD + (1 - value / top) * (_HEIGHT - 2 * _PAD), 1)

    line = " ".join(f"{x(p.at)},{y(float(getattr(p, field)))}" for p in points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img">',
        f"<title>{html.escape(label)}</title>",
        f'<line x1="{_LEFT}" y1="{y(0)}" x2="{_WIDTH - 10}" y2="{y(0)}" stroke="#999"/>',
        f'<text x="4" y="{y(top) + 4}">{top:g}</text><text x="4" y="{y(0)}">0</text>',
        f'<text x="{_LEFT}" y="12">{html.escape(label)}</text>',
        f'<text x="{_WIDTH - 60}" y="{_HEIGHT - 2}">{end:.0f} s</text>',
        f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}"/>',
    ]
    for at, text in marks:
        parts.append(
            f'<line x1="{x(at)}" y1="{_PAD}" x2="{x(at)}" y2="{_HEIGHT - _PAD}" stroke="#555" '
            f'stroke-dasharray="4 3"><title>{html.escape(text)}</title></line>'
        )
        if not text.endswith(": done"):
            parts.append(f'<text x="{x(at) + 3}" y="{_PAD + 10}">{html.escape(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
