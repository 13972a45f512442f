"""A one-page HTML report of one run: the view grid, what ran, and the before / after figures.

One self-contained file (the picture is embedded), readable in any browser and printable to PDF,
so a result can be attached to a mail or a lab book without the rest of the output folder.
"""

from __future__ import annotations

import base64
import html
import time
from typing import Any

# (key, label, digits, better): the figures of metrics.json, in the order a reader checks them
FIGURES = (
    ("ncc", "NCC", 4, "higher"),
    ("lncc", "LNCC", 4, "higher"),
    ("mi", "MI", 4, "higher"),
    ("nmi", "NMI", 4, "higher"),
    ("mse", "MSE", 4, "lower"),
    ("mae", "MAE", 4, "lower"),
    ("ssim", "SSIM", 4, "higher"),
    ("dice_mean", "Dice (mean)", 4, "higher"),
    ("hd95_mean_mm", "HD95 mean (mm)", 3, "lower"),
    ("tre_mean_mm", "TRE mean (mm)", 3, "lower"),
    ("tre_median_mm", "TRE median (mm)", 3, "lower"),
    ("tre_max_mm", "TRE max (mm)", 3, "lower"),
    ("jacobian_min", "Jacobian min", 3, "higher"),
    ("jacobian_max", "Jacobian max", 3, ""),
    ("folded_pct", "Folded (% of voxels)", 3, "lower"),
)

STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 1.5em auto; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.4em 0; } td, th { border: 1px solid #bbb; padding: 0.2em 0.6em; }
th { background: #eee; text-align: left; } td.number { text-align: right; font-family: monospace; }
.better { color: #1b5e20; } .worse { color: #b71c1c; font-weight: bold; }
.warning { background: #fff3e0; border-left: 4px solid #e65100; padding: 0.4em 0.8em; margin: 0.3em 0; }
.small { color: #555; font-size: 0.9em; } img { max-width: 100%; border: 1px solid #ccc; }
"""


def _number(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _change_class(before: Any, after: Any, better: str) -> str:
    if before is None or after is None or not better or abs(after - before) < 1e-9:
        return ""
    improved = after > before if better == "higher" else after < before
    return "better" if improved else "worse"


def figures_table(document: dict[str, Any]) -> str:
    """The before / after table (rows only for figures that were computed)."""
    before, after = document.get("before") or {}, document.get("after") or {}
    rows = []
    for key, label, digits, better in FIGURES:
        b, a = before.get(key), after.get(key)
        if b is None and a is None:
            continue
        css = _change_class(b, a, better)
        hint = f" ({better} is better)" if better else ""
        rows.append(
            f"<tr><td>{html.escape(label)}<span class='small'>{hint}</span></td><td class='number'>{_number(b, digits)}</td>"
            f"<td class='number {css}'>{_number(a, digits)}</td></tr>"
        )
    if not rows:
        return "<p>No figures were computed.</p>"
    return "<table><tr><th>Figure</th><th>Before (identity)</th><th>After</th></tr>" + "".join(rows) + "</table>"


def _stages_table(stages: list[dict[str, Any]]) -> str:
    if not stages:
        return "<p>No stage parameters recorded.</p>"
    rows = []
    for index, stage in enumerate(stages, 1):
        values = ", ".join(f"{name} = {value}" for name, value in (stage.get("parameters") or {}).items()) or "defaults"
        runtime = stage.get("runtime_s")
        rows.append(
            f"<tr><td>{index}</td><td>{html.escape(str(stage.get('method', '?')))}</td>"
            f"<td>{html.escape(values)}</td><td class='number'>{'' if runtime is None else f'{runtime:.1f} s'}</td></tr>"
        )
    return "<table><tr><th>#</th><th>Method</th><th>Parameters</th><th>Time</th></tr>" + "".join(rows) + "</table>"


def html_report(
    document: dict[str, Any],
    title: str,
    images: dict[str, str],
    view_png: bytes | None = None,
    notes: str = "",
) -> str:
    """The report page.

    Args:
        document: the run's metrics.json document (method, status, stages, before, after, files ...).
        title: e.g. "Run #3: rigid -> affine".
        images: role -> file name of the inputs.
        view_png: the view grid as PNG bytes (embedded), or None.
        notes: the session's free-text notes.
    """
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='small'>RegViewer report, {time.strftime('%Y-%m-%d %H:%M')}. "
        f"Status: <b>{html.escape(str(document.get('status', '?')))}</b> after {document.get('runtime_s', 0):.1f} s"
        f"{': ' + html.escape(str(document['message'])) if document.get('message') else ''}.</p>",
    ]
    for warning in document.get("warnings") or []:
        parts.append(f"<div class='warning'>Warning: {html.escape(str(warning))}</div>")
    if view_png:
        encoded = base64.b64encode(view_png).decode("ascii")
        parts.append(f"<h2>Views</h2><img alt='view grid' src='data:image/png;base64,{encoded}'>")
    parts.append("<h2>Before / after</h2>" + figures_table(document))
    folds = document.get("folds") or {}
    if folds.get("regions"):
        parts.append(
            f"<p>{folds['regions']} folded region(s); the largest has {folds['largest'][0]['voxel_count']} voxels.</p>"
        )
    parts.append(
        "<h2>Inputs</h2><table>"
        + "".join(
            f"<tr><th>{html.escape(role.replace('_', ' '))}</th><td>{html.escape(name)}</td></tr>"
            for role, name in images.items()
        )
        + "</table>"
    )
    parts.append(
        f"<h2>What ran: {html.escape(str(document.get('method', '')))}</h2>"
        + _stages_table(document.get("stages") or [])
    )
    files = document.get("files") or {}
    if files:
        parts.append(
            "<h2>Files</h2><table>"
            + "".join(
                f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(name))}</td></tr>" for key, name in files.items()
            )
            + "</table>"
        )
        parts.append(
            f"<p class='small'>{html.escape(str(document.get('direction', '')))}. "
            f"{html.escape(str(document.get('inverse_direction', '')))}</p>"
        )
    if notes.strip():
        parts.append("<h2>Notes</h2><pre>" + html.escape(notes) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
