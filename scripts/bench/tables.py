"""A benchmark's result as the markdown tables BENCHMARKS.md shows.

Formatting only: the JSON report is the result itself, written by the command line.
"""

from __future__ import annotations


def markdown(name: str, result: dict) -> str:
    """The benchmark's tables, as in BENCHMARKS.md."""
    lines = []
    for label, c in result["cases"].items():
        lines += [
            f"#### {name}: {label}",
            "",
            c["description"] + f"; {c['steps']} steps.",
            "",
            "| variant | first call (s) | compile ~ (s) | steady median (ms) "
            "| min (ms) | per step (us) | x fit |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        fit_med = c["variants"].get("fit", {}).get("median_s")
        for v, t in c["variants"].items():
            rel = f"{t['median_s'] / fit_med:.2f}" if fit_med else ""
            lines.append(
                f"| {v} | {t['first_s']:.3f} | {t['compile_s']:.3f} "
                f"| {1e3 * t['median_s']:.2f} | {1e3 * t['min_s']:.2f} "
                f"| {t['per_step_us']:.2f} | {rel} |"
            )
        lines.append("")
        for v, t in c["variants"].items():
            if "model_steps_per_s" in t:
                lines.append(
                    f"- {v}: {t['model_steps_per_s']:,.0f} model-steps/s, "
                    f"{100 * t['fraction_of_peak']:.1f}% of the matmul peak"
                )
        for label, t in c.get("sweeps", {}).items():
            lines.append(
                f"- {label}: " + ", ".join(f"{k} {v:.3g}" for k, v in t.items() if v is not None)
            )
        for k in (
            "peak_gflops",
            "fit_gflops",
            "bare_gflops",
            "bare_vs_fit_max_loss_difference",
            "ray_over_in_process",
            "ray_startup_s",
            "ray_overhead_per_group_s",
        ):
            if k in c:
                lines.append(f"- {k}: {c[k]:.4g}")
        for key, rows in c.items():
            if key != "variants" and isinstance(rows, list) and rows and isinstance(rows[0], dict):
                lines += _rows_table(key, rows)
        for t in c["targets"]:
            verdict = "MET" if t["met"] else "MISSED"
            lines.append(f"- **{verdict}**: {t['what']}: {t['value']:.3g} (target {t['target']})")
        lines.append("")
    if result.get("rows"):
        lines += [f"#### {name}", "", "| run | seconds | peak memory (MiB) | exit | last line |"]
        lines.append("|---|---:|---:|---:|---|")
        for label, r in result["rows"].items():
            lines.append(
                f"| {label} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | {r['status']} "
                f"| {r['last_line']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _rows_table(title: str, rows: list) -> list:
    """A list of flat dicts as a markdown table (floats to 4 significant digits)."""

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    keys = list(rows[0])
    return [
        "",
        f"{title}:",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows),
        "",
    ]
