"""Turn the bursts into figures: per framework and scenario, medians over the rounds with their range.

A subject's *overhead* in a round is its app CPU per request minus the no-session app's in the same round;
the *ratio* is hasession's overhead over the peer's in the same round. Both are reported as the median over
the rounds and the ``[min-max]`` range, which shows how noisy the run was.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .harness import SCENARIOS, Burst, FrameworkResult, percentile

TITLES = {"read": "read", "write": "one-key write"}


def spread(values: Iterable[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}


def summarize(result: FrameworkResult) -> dict[str, Any]:
    """The figures of one framework (JSON-ready)."""
    summary: dict[str, Any] = {"peer": result.framework.peer, "bytes_per_session": result.bytes}
    for scenario in SCENARIOS:
        bursts = [burst for burst in result.bursts if burst.scenario == scenario]
        by_round: dict[int, dict[str, Burst]] = {}
        for burst in bursts:
            by_round.setdefault(burst.round, {})[burst.variant] = burst
        figures: dict[str, Any] = {}
        for variant in ("bare", "peer", "hasession"):
            mine = [burst for burst in bursts if burst.variant == variant]
            latencies = sorted(latency for burst in mine for latency in burst.latencies)
            figures[variant] = {
                "cpu_us": spread(burst.cpu_us for burst in mine),
                "redis_cpu_us": spread(burst.redis_cpu_us for burst in mine),
                "rps": spread(burst.rps for burst in mine),
                "p50_us": percentile(latencies, 0.50) * 1e6,
                "p99_us": percentile(latencies, 0.99) * 1e6,
            }
            if variant != "bare":
                figures[variant]["overhead_us"] = spread(
                    rounds[variant].cpu_us - rounds["bare"].cpu_us for rounds in by_round.values()
                )
        figures["ratio"] = spread(_ratio(rounds) for rounds in by_round.values())
        summary[scenario] = figures
    return summary


def _ratio(rounds: dict[str, Burst]) -> float:
    bare = rounds["bare"].cpu_us
    peer = rounds["peer"].cpu_us - bare
    return (rounds["hasession"].cpu_us - bare) / peer if peer > 0 else float("inf")


def write_json(path: Path, header: dict[str, Any], results: Sequence[FrameworkResult]) -> None:
    document = {
        **header,
        "frameworks": {
            result.framework.name: {
                "summary": summarize(result),
                "bursts": [burst.summary() for burst in result.bursts],
            }
            for result in results
        },
    }
    path.write_text(json.dumps(document, indent=1) + "\n")


def _range(figure: dict[str, float], digits: int = 0) -> str:
    return f"{figure['median']:.{digits}f} [{figure['min']:.{digits}f}-{figure['max']:.{digits}f}]"


def markdown(summaries: dict[str, dict[str, Any]]) -> str:
    """The tables of the README's performance section."""
    lines = [
        "App CPU per request spent on sessions (the no-session app's CPU subtracted), µs, median [min-max] "
        "over the rounds; ratio = hasession / peer (below 1: hasession costs less).",
        "",
        "| framework (peer) | hasession read | peer read | ratio read "
        "| hasession write | peer write | ratio write |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, summary in summaries.items():
        cells = []
        for scenario in SCENARIOS:
            figures = summary[scenario]
            cells += [
                _range(figures["hasession"]["overhead_us"]),
                _range(figures["peer"]["overhead_us"]),
                "**" + _range(figures["ratio"], 2) + "**",
            ]
        lines.append(f"| {name} ({summary['peer']}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Under the fixed load (the same users, back to back): throughput, latency, Redis CPU, and memory.",
        "",
        "| framework | scenario | subject | app CPU µs/req | req/s | p50 µs | p99 µs "
        "| Redis CPU µs/req | bytes/session |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, summary in summaries.items():
        for scenario in SCENARIOS:
            for variant in ("bare", "peer", "hasession"):
                figures = summary[scenario][variant]
                label = {"bare": "no sessions", "peer": summary["peer"], "hasession": "hasession"}[variant]
                size = summary["bytes_per_session"].get(variant)
                lines.append(
                    f"| {name} | {TITLES[scenario]} | {label} | {_range(figures['cpu_us'])} "
                    f"| {figures['rps']['median']:.0f} | {figures['p50_us']:.0f} | {figures['p99_us']:.0f} "
                    f"| {figures['redis_cpu_us']['median']:.1f} | {'' if size is None else f'{size:.0f}'} |"
                )
    return "\n".join(lines) + "\n"


def chart(path: Path, summaries: dict[str, dict[str, Any]], title: str) -> None:
    """Bars of the session overhead per framework, hasession next to the peer, with the rounds' range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summaries)
    figure, axes = plt.subplots(1, len(SCENARIOS), figsize=(11, 4.2), sharey=True)
    for axis, scenario in zip(axes, SCENARIOS, strict=True):
        for offset, variant, colour in ((-0.2, "peer", "#9e9e9e"), (0.2, "hasession", "#d1495b")):
            figures = [summaries[name][scenario][variant]["overhead_us"] for name in names]
            medians = [figure["median"] for figure in figures]
            errors = [
                [m - figure["min"] for m, figure in zip(medians, figures, strict=True)],
                [figure["max"] - m for m, figure in zip(medians, figures, strict=True)],
            ]
            positions = [i + offset for i in range(len(names))]
            label = "peer library" if variant == "peer" else "hasession"
            axis.bar(positions, medians, width=0.4, yerr=errors, capsize=3, color=colour, label=label)
        labels = [f"{name}\n({summaries[name]['peer'].split(' + ')[-1]})" for name in names]
        axis.set_xticks(range(len(names)), labels, fontsize=7, rotation=20)
        axis.set_title(f"{TITLES[scenario]}: app CPU per request over no sessions")
        axis.set_ylabel("µs per request (median, range over rounds)")
        axis.legend()
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
