"""Run the benchmark suite, save its JSON, and refresh the generated part of bench/RESULTS.md.

    python bench/run.py            # full mode: several minutes, for people
    python bench/run.py --quick    # about 80 s on 2 cores: proves the suite still runs (CI)
    python bench/run.py --render bench/results/X.json   # only redraw the summary and plot

Invariant: everything between the ``generated`` markers in RESULTS.md is rewritten from the
saved JSON; the hand-written analysis around it is left alone.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
START, END = "<!-- generated:start -->", "<!-- generated:end -->"


def _machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def _commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    return r.stdout.strip() or "unknown"


def run_suite(quick: bool, label: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{label}.json"
    cmd = [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider", f"--benchmark-json={out}"]
    if quick:
        cmd.append("--quick")
    subprocess.run(cmd, check=True, cwd=HERE.parent)
    return out


def _by_name(doc: dict) -> dict[str, dict]:
    return {b["name"]: b for b in doc["benchmarks"]}


def plot_scaling(doc: dict, png: Path) -> bool:
    """events/s against workers (default chunk size), with the ideal linear line from 1 worker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {}
    for b in doc["benchmarks"]:
        m = re.match(r"test_sweep\[(\d+)-(\d+)\]", b["name"])
        if m:
            points.setdefault(int(m.group(2)), {})[int(m.group(1))] = b["extra_info"]["events_per_s"]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for chunk, series in sorted(points.items()):
        ws = sorted(series)
        ax.plot(ws, [series[w] / 1e6 for w in ws], marker="o", label=f"chunk {chunk:,}")
    base = max(points, key=lambda c: points[c].get(1, 0))
    top = max(max(s) for s in points.values())
    if 1 in points[base]:
        ax.plot([1, top], [points[base][1] / 1e6, points[base][1] * top / 1e6], "k--", label="ideal (linear)")
    ax.set_xlabel("workers")
    ax.set_ylabel("million events/s (whole process)")
    ax.set_title("temu_gen scaling, 2.1M events")
    ax.set_xticks(range(1, top + 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return True


def summary(doc: dict, json_path: Path, png: Path | None) -> str:
    b = _by_name(doc)
    lines = [f"Last run: {doc.get('datetime', '')[:19]} UTC, commit `{doc.get('commit_info', {}).get('id', '')[:7] or _commit()}`, "
             f"{_machine()}. Raw JSON: `{json_path.relative_to(HERE.parent)}`.", "",
             "| benchmark | best s | events/s | MB/s | peak RSS MiB (tree) | peak PSS MiB | note |",
             "|---|---|---|---|---|---|---|"]
    for name, x in b.items():
        e = x["extra_info"]
        rate = f"{e['events_per_s'] / 1e6:.2f}M" if e.get("events_per_s") else ""
        mbps = f"{e['mb_per_s']:.0f}" if e.get("mb_per_s") else ""
        note = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in e.items()
                         if k in ("server", "workers", "chunk", "events", "mb", "median_s", "simulate_s", "write_s"))
        if "workers_1" in e:
            note = "; ".join(f"{k}: predicted {v['predicted_s']:.2f} s vs measured {v['measured_s']:.2f} s "
                             f"({v['error']:+.0%})" for k, v in e.items() if k.startswith("workers_"))
        rss = f"{e['peak_rss_mib']:.0f}" if e.get("peak_rss_mib") else ""
        pss = f"{e['peak_pss_mib']:.0f}" if e.get("peak_pss_mib") else ""
        lines.append(f"| `{name}` | {x['stats']['min']:.3f} | {rate} | {mbps} | {rss} | {pss} | {note} |")
    if png is not None:
        lines += ["", f"![events/s against workers]({png.relative_to(HERE)})"]
    return "\n".join(lines)


def render(json_path: Path) -> None:
    json_path = json_path.resolve()
    doc = json.loads(json_path.read_text())
    png = json_path.with_suffix(".png")
    has_plot = plot_scaling(doc, png)
    block = summary(doc, json_path, png if has_plot else None)
    md = HERE / "RESULTS.md"
    text = md.read_text() if md.exists() else f"# Benchmark results\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    md.write_text(f"{head}{START}\n{block}\n{END}{tail}")
    print(block)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="about 80 s on 2 cores; results go to results/quick.json")
    p.add_argument("--label", help="results file name (default: date and machine)")
    p.add_argument("--render", type=Path, help="skip running; render this JSON")
    args = p.parse_args()
    if args.render:
        render(args.render)
        return
    label = args.label or ("quick" if args.quick else f"{dt.date.today()}-{os.cpu_count()}cpu")
    path = run_suite(args.quick, label)
    if not args.quick:
        render(path)


if __name__ == "__main__":
    main()
