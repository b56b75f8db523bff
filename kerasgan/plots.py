"""Plots of a training run: `losses.png` from the run's epoch history.

`kerasgan train` appends every epoch's logs to `OUT/history.jsonl` (`callbacks.EpochLog`)
and draws `OUT/losses.png` from it at the end of every session, so the plot covers the whole
run across resumes. Drawn with matplotlib's Agg canvas (no display, no pyplot state).
"""
import json
import math
import os

HISTORY_FILE = "history.jsonl"
LOSSES_FILE = "losses.png"


def read_history(path):
    """`{"epoch": [1, 2, ...], NAME: [value per epoch, NaN where missing], ...}` from an
    `EpochLog` file. A record whose epoch is not after the one before (a session resumed
    from an older checkpoint) replaces the records from that epoch on. Unreadable lines (a
    line cut short by a kill) are skipped."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
                epoch = int(record["epoch"])
            except (ValueError, KeyError, TypeError):
                continue
            if not isinstance(record, dict):
                continue
            records = [r for r in records if r["epoch"] < epoch]
            records.append({**record, "epoch": epoch})
    names = []
    for record in records:
        names += [key for key in record if key != "epoch" and key not in names]
    history = {"epoch": [r["epoch"] for r in records]}
    for name in names:
        history[name] = [_number(r.get(name)) for r in records]
    return history


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def plot_history(history, path, title=None):
    """Draws the losses of `history` (`read_history`'s dict, or a Keras `History.history`:
    lists per name, epochs counted from 1 when there is no "epoch") into the PNG `path`:
    every logged name holding "loss" in the top panel, the other logged values (scores,
    penalties) below; learning rates are left out. Returns the path, or None when there is
    nothing to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from kerasgan.files import atomic_file

    names = [name for name in history if name != "epoch"
             and not name.startswith("learning_rate") and len(history[name])]
    if not names:
        return None
    longest = max(len(history[name]) for name in names)
    epochs = list(history.get("epoch") or range(1, longest + 1))
    losses = [name for name in names if "loss" in name]
    others = [name for name in names if "loss" not in name]
    panels = [group for group in (losses, others) if group]
    figure = Figure(figsize=(8, 3.2 * len(panels)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    marker = "o" if len(epochs) <= 30 else None
    for ax, group in zip(axes, panels):
        for name in group:
            values = history[name]
            ax.plot(epochs[:len(values)], values, marker=marker, markersize=3, label=name)
        ax.set_ylabel("loss" if group is losses else "value")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        axes[0].set_title(title)
    figure.tight_layout()
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png")
    return path


def plot_run(out):
    """`OUT/losses.png` from `OUT/history.jsonl`; returns its path, or None without history."""
    history_path = os.path.join(out, HISTORY_FILE)
    if not os.path.isfile(history_path):
        return None
    return plot_history(read_history(history_path), os.path.join(out, LOSSES_FILE),
                        title=f"{os.path.basename(os.path.abspath(out))}: losses per epoch")
