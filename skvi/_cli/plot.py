"""The command line's figure: the ELBO trace and q(mu) of each column."""

# SPDX-License-Identifier: BSD-3-Clause

import math
import os

from .common import CommandLineError
from .report import decimals, format_level, format_number

# Panels beyond this make the figure unreadable; the table has every column.
MAX_PLOT_PANELS = 40
_POSTERIOR = {"color": "C0", "label": "q(mu)"}
_DATA_MEAN = {"color": "C1", "linewidth": 1.2, "linestyle": ":", "label": "data mean"}
_EXACT_INTERVAL = {
    "color": "C3",
    "linewidth": 3.0,
    "solid_capstyle": "butt",
    "label": "exact credible interval",
}
_PRIOR_MEAN = {
    "color": "C2",
    "linewidth": 1.0,
    "linestyle": "--",
    "label": "prior mean",
}
# With the priors from the data (the default) the prior mean is the data mean:
# one line, named for both, rather than one hidden under the other.
_SHARED_MEAN = dict(_DATA_MEAN, label="data mean = prior mean (from the data)")


def check_target(path):
    """Fail before the fit when the figure cannot be made or saved."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CommandLineError(
            '--plot needs matplotlib, which is not installed: pip install "skvi[plot]"'
        ) from None
    from matplotlib.figure import Figure

    extension = os.path.splitext(path)[1].lstrip(".").lower()
    supported = Figure().canvas.get_supported_filetypes()
    if extension not in supported:
        raise CommandLineError(
            f"cannot save the plot to {path}: give a file name ending in one of "
            f"{', '.join('.' + name for name in sorted(supported))}"
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandLineError(
            f"cannot save the plot to {path}: directory {directory} does not exist"
        )


def _elbo_panels(top, history):
    """The ELBO per iteration, and its distance to the final value (log scale)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    iterations = np.arange(1, history.size + 1)
    trace, gap = top.subplots(1, 2)
    trace.plot(iterations, history, marker="o", markersize=3)
    trace.set(xlabel="iteration", ylabel="ELBO", title="ELBO per CAVI iteration")
    # Whole values on the axis: an offset ("-1.65692e4" above ticks like
    # "-0.025") is unreadable.
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_scientific(False)
    trace.yaxis.set_major_formatter(formatter)
    # The last value is the reference, so only the earlier ones have a distance.
    distance = history[-1] - history[:-1]
    positive = distance > 0
    if positive.any():
        gap.semilogy(
            iterations[:-1][positive], distance[positive], marker="o", markersize=3
        )
    gap.set(
        xlabel="iteration",
        ylabel="final ELBO − ELBO",
        title="Distance to the final ELBO",
    )
    if not positive.any():
        gap.text(
            0.5,
            0.5,
            "converged at the first iteration",
            transform=gap.transAxes,
            ha="center",
            color="0.4",
        )
    for ax in (trace, gap):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # Whole iterations, with room around them: a fit of 2 or 3
        # iterations would otherwise get ticks like 0.95-1.05 around one dot.
        ax.set_xlim(0.5, max(history.size, 2) + 0.5)
        ax.grid(alpha=0.3)


def _prior_at_data_mean(column):
    """Whether the prior mean and the data mean would draw as one line."""
    width = column["posterior_std"]
    return abs(column["prior"]["prior_mean"] - column["data_mean"]) <= 1e-3 * width


def _posterior_panel(ax, column, level):
    """q(mu) shaded over its own interval, the exact interval as a bar below it,
    the data mean and the prior's mean."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator
    from scipy import stats

    mean, std = column["posterior_mean"], column["posterior_std"]
    lower, upper = column["credible_interval"]
    data_mean = column["data_mean"]
    # The panel shows q(mu), the exact interval and, when the prior pulled q
    # away, the data mean.
    grid_mu = np.linspace(
        min(mean - 4 * std, data_mean - std, lower),
        max(mean + 4 * std, data_mean + std, upper),
        401,
    )
    density = stats.norm.pdf(grid_mu, mean, std)
    ax.plot(grid_mu, density, **_POSTERIOR)
    # q's own central interval, m +- z s; the table's is the exact one, below.
    half_width = stats.norm.isf(0.5 * (1.0 - level)) * std
    inside = (grid_mu >= mean - half_width) & (grid_mu <= mean + half_width)
    ax.fill_between(
        grid_mu[inside], density[inside], color="C0", alpha=0.25, linewidth=0
    )
    ax.plot([lower, upper], [0.05 * density.max()] * 2, **_EXACT_INTERVAL)
    prior_mean = column["prior"]["prior_mean"]
    shared = _prior_at_data_mean(column)
    ax.axvline(data_mean, **(_SHARED_MEAN if shared else _DATA_MEAN))
    if shared:
        pass
    elif grid_mu[0] <= prior_mean <= grid_mu[-1]:
        ax.axvline(prior_mean, **_PRIOR_MEAN)
    else:
        # Off the panel: say where, at the edge that faces it.
        right = prior_mean > grid_mu[-1]
        ax.annotate(
            f"prior mean {prior_mean:.3g} {'→' if right else '←'}",
            xy=(0.98 if right else 0.02, 0.92),
            xycoords="axes fraction",
            ha="right" if right else "left",
            va="top",
            color="C2",
            fontsize="small",
        )
    places = decimals(std)
    ax.set_title(
        f"{column['name']}\n{format_number(mean, places)} "
        f"[{format_number(lower, places)}, {format_number(upper, places)}]",
        fontsize="medium",
    )
    # Density values say nothing across panels; the x axis carries the scale.
    ax.set_yticks([])
    ax.set_ylim(bottom=0, top=density.max() * 1.25)
    ax.set_xlim(grid_mu[0], grid_mu[-1])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.ticklabel_format(axis="x", useOffset=False)
    ax.tick_params(axis="x", labelsize="small")


def plot(estimator, result, path):
    """Save the ELBO trace and q(mu) of each column as small multiples."""
    from matplotlib.figure import Figure

    columns = result["columns"][:MAX_PLOT_PANELS]
    n_cols = min(len(columns), 5)
    n_rows = math.ceil(len(columns) / n_cols)
    figure = Figure(
        figsize=(max(2.9 * n_cols, 9.0), 3.4 + 2.3 * n_rows), layout="constrained"
    )
    figure.suptitle(f"skvi fit: {result['data']}", fontweight="bold")
    # Subfigures keep the ELBO panels' axis labels from widening the grid below.
    top, bottom = figure.subfigures(2, 1, height_ratios=[3.2, 2.3 * n_rows + 0.2])
    _elbo_panels(top, estimator.elbo_history_)

    level = format_level(result["credible_level"])
    title = (
        f"q(mu) per column, shaded over its {level} interval; in red and in "
        f"each title, the exact {level} credible interval"
    )
    more = len(result["columns"]) - len(columns)
    if more:
        title += f"; {more} more columns in the table"
    bottom.suptitle(title)
    axes = bottom.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, column in zip(axes, columns, strict=False):
        _posterior_panel(ax, column, result["credible_level"])
    from matplotlib.lines import Line2D

    shared = [_prior_at_data_mean(column) for column in columns]
    styles = [_POSTERIOR, _EXACT_INTERVAL]
    if any(shared):
        styles.append(_SHARED_MEAN)
    if not all(shared):
        styles += [_DATA_MEAN, _PRIOR_MEAN]
    handles = [Line2D([], [], **style) for style in styles]
    bottom.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        fontsize="small",
        frameon=False,
    )
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    try:
        figure.savefig(path, dpi=110)
    except (OSError, ValueError) as exc:
        raise CommandLineError(f"cannot save the plot to {path}: {exc}") from None
