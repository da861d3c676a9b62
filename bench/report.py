"""Markdown tables from bench results: ``python -m bench.report sqlite.json [postgresql.json ...]``.

docs/performance.md quotes these tables, so the published figures are exactly a run's.
"""

from __future__ import annotations

import json
import sys


def _n(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(runs: list[dict]) -> str:
    """Side-by-side tables (one column group per run, e.g. SQLite then PostgreSQL)."""
    names = [r["meta"]["database"] for r in runs]
    out = []
    meta = [f"{r['meta']['database']}: measured {r['meta']['started_at']}"
            + (f" on the load of {r['meta']['reused_load_of']}" if r["meta"].get("reused_load_of") else "")
            + f", load average {r['meta']['loadavg_before'][0]} -> {r['meta']['loadavg_after'][0]}" for r in runs]
    out.append("Runs: " + "; ".join(meta) + ".")
    out.append("")
    head = "| entity | rows | " + " | ".join(f"{n} s | {n} rows/s | {n} raw rows/s | {n} cost" for n in names) + " |"
    out += [head, "|" + "---|" * (2 + 4 * len(runs))]
    labels = list(dict.fromkeys(label for r in runs for label in r["load"]))
    for label in labels:
        cells = []
        rows = next((r["load"][label]["rows"] for r in runs if label in r["load"]), 0)
        for r in runs:
            e = r["load"].get(label)
            if e is None:
                cells += ["-"] * 4
                continue
            raw = e.get("raw", {}).get("rows_per_s", {}).get("median")
            cost = e.get("validation_cost")
            cells += [_n(e["seconds"]), _n(e["rows_per_s"]), _n(raw), f"{cost}x" if cost else "-"]
        out.append(f"| {label} | {rows:,} | " + " | ".join(cells) + " |")
    out.append("| **total load** | | " + " | ".join(f"**{_n(r['load_seconds'])}** | | |" for r in runs) + " |")
    out.append("")
    head = "| page (server ms) | " + " | ".join(f"{n} median | {n} p95 | bare median | overhead" for n in names) + " |"
    out += [head, "|---|" + "---|" * (4 * len(runs))]
    labels = list(dict.fromkeys(label for r in runs for label in r["pages"]))
    for label in labels:
        cells = []
        for r in runs:
            e = r["pages"].get(label)
            if e is None or "error" in e:
                cells += ["error" if e else "-", "-", "-", "-"]
                continue
            bare = e.get("bare_ms")
            cells += [_n(e["ms"]["median"]), _n(e["ms"]["p95"]), _n(bare["median"]) if bare else "",
                      f"{e['overhead']}x" if bare else ""]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    head = "| operation | unit | " + " | ".join(f"{n} median | {n} p95" for n in names) + " |"
    out += [head, "|---|---|" + "---|" * (2 * len(runs))]
    labels = list(dict.fromkeys(label for r in runs for label in r["operations"]))
    for label in labels:
        unit = next(r["operations"][label]["unit"] for r in runs if label in r["operations"])
        cells = []
        for r in runs:
            e = r["operations"].get(label)
            cells += [_n(e["median"], 3), _n(e["p95"], 3)] if e else ["-", "-"]
        out.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    if any("http" in r for r in runs):
        out.append("")
        out += ["| throughput, gunicorn 2 sync workers (req/s) | " + " | ".join(f"{n} Grappe | {n} bare" for n in names) + " |",
                "|---|" + "---|" * (2 * len(runs))]
        labels = list(dict.fromkeys(label for r in runs for label in r.get("http", {})))
        for label in labels:
            cells = []
            for r in runs:
                e = r.get("http", {}).get(label)
                if e is None:
                    cells += ["-", "-"]
                elif "grappe" in e:
                    cells += [_n(e["grappe"]["requests_per_s"]), _n(e.get("bare", {}).get("requests_per_s"))]
                else:
                    cells += ["", _n(e["requests_per_s"])]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out += ["| target | " + " | ".join(f"{n} value | {n}" for n in names) + " |", "|---|" + "---|" * (2 * len(runs))]
    labels = list(dict.fromkeys(t["target"] for r in runs for t in r["targets"]))
    for label in labels:
        cells = []
        for r in runs:
            t = next((t for t in r["targets"] if t["target"] == label), None)
            mark = {True: "met", False: "**missed**", None: "-"}[t["met"]] if t else "-"
            cells += [f"{_n(t['value'], 2)} ({t['limit']})" if t else "-", mark]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(paths: list[str]) -> None:
    runs = [json.loads(open(p).read()) for p in paths]
    sys.stdout.write(markdown(runs))


if __name__ == "__main__":
    main(sys.argv[1:])
