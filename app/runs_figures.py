"""Plotly figures of the Runs page: overlaid training curves, per-view heatmaps, CMC, embedding map.

Builders take plain data (metric series, result dicts, arrays) and return ``go.Figure``; an
empty input gives a figure that says what is missing instead of a blank plot.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

# The few settings we want of plotly's "plotly_white": assigning the full template validates and
# deep-copies hundreds of entries per figure, which was most of the Runs page's render time.
PLOT_TEMPLATE = {"layout": {
    "paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
    "colorway": ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880",
                 "#FF97FF", "#FECB52"],
    "xaxis": {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "automargin": True},
    "yaxis": {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "automargin": True}}}

FAMILIES = ("loss", "lr", "accuracy", "other")
FAMILY_TITLES = {"loss": "Losses", "lr": "Learning rate", "accuracy": "Accuracy / rank-1 (%)",
                 "other": "Other logged values"}
RUN_COLOURS = qualitative.Plotly + qualitative.D3
ID_COLOURS = qualitative.Dark24 + qualitative.Light24 + qualitative.Alphabet
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "triangle-down", "pentagon", "hexagon")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
LAYOUT = dict(template=PLOT_TEMPLATE, margin={"l": 50, "r": 10, "t": 50, "b": 40})


# -- metric families ------------------------------------------------------------------------------

def metric_family(name: str) -> str:
    """Group a logged metric by its name: learning rate, accuracy-like, timing, else loss-like.

    Only prefixes and obvious words are used, so a new loss term lands with the losses without
    anyone listing it here.
    """
    n = name.lower()
    if n == "lr" or n.startswith(("lr_", "lr/", "learning_rate")):
        return "lr"
    if n.startswith(("acc", "rank", "eval_", "map", "minp", "top")) or "rank-" in n or n.endswith("_acc"):
        return "accuracy"
    if n.startswith(("sec", "time", "ms_", "samples_per", "steps_per", "mem", "gpu_")) or n.endswith(("_sec", "_ms")):
        return "other"
    return "loss"


def group_metrics(names: Iterable[str]) -> dict[str, list[str]]:
    """{family: sorted metric names}, every family present (possibly empty), in FAMILIES order."""
    out: dict[str, list[str]] = {f: [] for f in FAMILIES}
    for n in sorted(set(names)):
        out[metric_family(n)].append(n)
    # 'loss' itself first among the losses: it is the total the others add up to.
    out["loss"].sort(key=lambda n: (n != "loss", n))
    return out


def _percent_values(name: str, ys: Sequence[float]) -> list[float]:
    # Fractions (train accuracy) are shown in percent beside eval rank-1, which is logged in percent.
    if metric_family(name) == "accuracy" and not name.lower().startswith(("eval_", "rank")) and ys \
            and max(abs(y) for y in ys) <= 1.0:
        return [100.0 * y for y in ys]
    return list(ys)


def empty_figure(text: str, height: int = 300, title: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#6b7280"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, title=title, **LAYOUT)
    return fig


def _spans_decades(fig: go.Figure) -> bool:
    # A step schedule divides the rate by 10 per milestone: log scale shows each step; a constant
    # rate on a log axis only clutters the tick labels.
    ys = [y for t in fig.data for y in (t.y or []) if isinstance(y, (int, float)) and y > 0]
    return bool(ys) and max(ys) / min(ys) > 20


def curves_figures(series: Sequence[tuple[str, dict[str, list[tuple[int, float]]]]],
                   height: int = 320) -> dict[str, go.Figure]:
    """One figure per metric family, each overlaying every selected run's metrics of that family.

    ``series``: (run label, {metric: [(step, value), ...]}) per run. Colour = run, dash = metric;
    trace names are ``"<run> · <metric>"``.
    """
    figs: dict[str, go.Figure] = {}
    if not series:
        for fam in FAMILIES:
            figs[fam] = empty_figure("select one or more runs above to compare their curves", height,
                                     FAMILY_TITLES[fam])
        return figs
    names = {n for _, metrics in series for n in metrics}
    groups = group_metrics(names)
    for fam in FAMILIES:
        if not groups[fam]:
            figs[fam] = empty_figure(f"the selected runs logged no {FAMILY_TITLES[fam].lower()}", height,
                                     FAMILY_TITLES[fam])
            continue
        fig = go.Figure()
        for r, (label, metrics) in enumerate(series):
            colour = RUN_COLOURS[r % len(RUN_COLOURS)]
            for m, name in enumerate(groups[fam]):
                pts = metrics.get(name) or []
                if not pts:
                    continue
                xs, ys = zip(*pts)
                fig.add_trace(go.Scatter(x=list(xs), y=_percent_values(name, ys), name=f"{label} · {name}",
                                         mode="lines+markers" if len(xs) < 40 else "lines",
                                         marker={"size": 4}, legendgroup=label,
                                         line={"color": colour, "dash": DASHES[m % len(DASHES)]},
                                         meta={"run": label, "metric": name}))
        fig.update_xaxes(title_text="step")
        if fam == "lr" and _spans_decades(fig):
            fig.update_yaxes(type="log", exponentformat="e")
        elif fam in ("lr", "accuracy"):
            fig.update_yaxes(rangemode="tozero")
        # showlegend: plotly hides the legend of a one-trace figure, which left "Other logged values" unnamed.
        fig.update_layout(height=height, title=FAMILY_TITLES[fam], legend={"orientation": "h", "y": -0.25},
                          showlegend=True,
                          **LAYOUT)
        figs[fam] = fig
    return figs


# -- per-view heatmap --------------------------------------------------------------------------------

def heatmap_figure(evaluations: Sequence[tuple[str, dict[str, Any]]], height_per_row: int = 300) -> go.Figure:
    """Rank-1 (%) per probe view (rows) x gallery view (columns), one panel per condition and one
    row per evaluation (e.g. plain, refined). The excluded same-view diagonal is left blank."""
    rows = [(label, res) for label, res in evaluations if isinstance((res or {}).get("matrix"), dict)]
    if not rows:
        return empty_figure("no per-view matrix: it is computed for CASIA-B-style evaluations only",
                            height_per_row)
    conds = list(dict.fromkeys(c for _, res in rows for c in res["matrix"]))     # the protocol's order
    titles = [f"{c} · {label}" if len(rows) > 1 else c for label, _ in rows for c in conds]
    fig = make_subplots(rows=len(rows), cols=len(conds), subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=0.18 if len(rows) > 1 else 0.1)
    for i, (label, res) in enumerate(rows, start=1):
        views = [str(v) for v in res.get("views") or []]
        for j, c in enumerate(conds, start=1):
            mat = res["matrix"].get(c)
            if mat is None:
                continue
            z = np.array([[np.nan if v is None else float(v) for v in row] for row in mat], dtype=float)
            labels = views if len(views) == z.shape[0] else [str(k) for k in range(z.shape[0])]
            text = [["" if np.isnan(v) else f"{v:.0f}" for v in row] for row in z]
            fig.add_trace(go.Heatmap(z=z, x=labels, y=labels, zmin=0, zmax=100, colorscale="Viridis",
                                     text=text, texttemplate="%{text}" if len(labels) <= 14 else None,
                                     showscale=(i == 1 and j == len(conds)), name=f"{c} · {label}",
                                     colorbar={"title": "rank-1 %"},
                                     hovertemplate="probe %{y} · gallery %{x}: %{z:.2f}%<extra>" + c + "</extra>"),
                          row=i, col=j)
            fig.update_xaxes(title_text="gallery view", type="category", row=i, col=j)
            fig.update_yaxes(title_text="probe view" if j == 1 else None, type="category", autorange="reversed",
                             row=i, col=j)
    fig.update_layout(height=height_per_row * len(rows) + 40, **LAYOUT)
    return fig


# -- CMC ---------------------------------------------------------------------------------------------

CMC_COLOURS = {"NM": "#16a34a", "BG": "#2563eb", "CL": "#d97706", "general": "#2563eb", "cc": "#d97706",
               "probe": "#111827"}


def cmc_figure(curves: dict[str, Any], title: str = "", height: int = 340) -> go.Figure:
    """CMC curves (percent vs rank), one trace per curve; ``curves`` maps name -> CMCCurve."""
    if not curves:
        return empty_figure("no probes with a gallery to rank against", height)
    fig = go.Figure()
    unit = "identity"
    for name, c in curves.items():
        unit = c.unit
        fig.add_trace(go.Scatter(x=c.ranks.tolist(), y=[float(v) for v in c.values], name=f"{name} ({c.num_probes})",
                                 mode="lines+markers" if len(c.values) <= 60 else "lines", marker={"size": 5},
                                 line={"color": CMC_COLOURS.get(name)}, meta={"curve": name},
                                 hovertemplate=f"{name} · rank %{{x}}: %{{y:.2f}}%<extra></extra>"))
    longest = max(len(c.values) for c in curves.values())
    fig.update_xaxes(title_text=f"rank (gallery {'identities' if unit == 'identity' else 'sequences'})",
                     dtick=max(1, int(np.ceil(longest / 10))), range=[0.5, longest + 0.5])
    fig.update_yaxes(title_text="matched within rank (%)", range=[0, 102])
    fig.update_layout(height=height, title=title or "CMC", legend={"orientation": "h", "y": -0.25}, **LAYOUT)
    return fig


# -- embedding scatter ------------------------------------------------------------------------------

def scatter_figure(xy: np.ndarray, identities: Sequence[str], conditions: Sequence[str],
                   hover: Sequence[str] | None = None, title: str = "", height: int = 460) -> go.Figure:
    """One point per sequence: colour = identity, marker = condition (one trace per condition)."""
    xy = np.asarray(xy, dtype=float)
    if not len(xy):
        return empty_figure("no test sequences to show", height)
    ids = np.asarray(identities).astype(str)
    conds = np.asarray(conditions).astype(str)
    hover = np.asarray(hover if hover is not None else ids).astype(str)
    id_list = sorted(set(ids.tolist()))
    colour_of = {s: ID_COLOURS[k % len(ID_COLOURS)] for k, s in enumerate(id_list)}
    many = len(xy) > 2000   # WebGL keeps CASIA-B's 5,500 test sequences responsive
    trace = go.Scattergl if many else go.Scatter
    fig = go.Figure()
    for k, c in enumerate(sorted(set(conds.tolist()))):
        m = conds == c
        fig.add_trace(trace(x=xy[m, 0], y=xy[m, 1], mode="markers", name=c or "(none)",
                            marker={"symbol": SYMBOLS[k % len(SYMBOLS)], "size": 7, "opacity": 0.85,
                                    "color": [colour_of[s] for s in ids[m]],
                                    "line": {"width": 0.5, "color": "#111827"}},
                            text=hover[m], hovertemplate="%{text}<extra>" + (c or "") + "</extra>"))
    fig.update_layout(height=height, title=title or None, legend={"title": "condition (marker)"},
                      xaxis={"zeroline": False}, yaxis={"zeroline": False, "scaleanchor": "x"}, **LAYOUT)
    fig.add_annotation(text=f"colour = identity ({len(id_list)} ids)", showarrow=False, x=0, y=1.06,
                       xref="paper", yref="paper", xanchor="left", font={"size": 11, "color": "#6b7280"})
    return fig
