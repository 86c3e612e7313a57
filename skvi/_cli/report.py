"""The command line's output: the result as a dict, a table, or JSON."""

# SPDX-License-Identifier: BSD-3-Clause

import json
import math
import textwrap

from .priors import DATA_PRIOR, DATA_PRIOR_FORMULA, PRIOR_NAMES


def decimals(std):
    """Decimal places that show two significant digits of ``std``.

    Negative for an sd above 10: the digits of the units place and above
    that the uncertainty leaves meaningful (see :func:`format_number`).
    """
    if not (std > 0 and math.isfinite(std)):
        return 6
    return 1 - math.floor(math.log10(std))


def format_number(value, places):
    """``value`` to ``places`` decimals: fixed-point, or scientific when unwieldy.

    In scientific notation the mantissa keeps the same digits (at least 6, at
    most 17), so that ``1e150 +- 1e140`` shows its bounds apart.
    """
    if not math.isfinite(value):
        return str(value)
    if places > 10 or abs(value) >= 1e12:
        exponent = math.floor(math.log10(abs(value))) if value else 0
        return f"{value:.{min(16, max(6, exponent + places))}e}"
    return f"{value:.{max(0, places)}f}"


def format_level(level):
    """A probability as a percentage with the digits it has: 95%, 99.9999999%.

    From its shortest decimal form, so that no rounding shows 0.9999999999999999
    as 100%.
    """
    from decimal import Decimal

    percent = (Decimal(repr(float(level))) * 100).normalize()
    return f"{percent:{'f' if percent.adjusted() >= -6 else 'e'}}%"


def json_safe(value):
    """``value`` with every NaN or infinite float replaced by None (JSON null).

    JSON has no NaN nor Infinity (Python's json writes them, and strict
    readers refuse the file); the result says what is missing in its notes.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _significant(value, digits):
    """``value`` to ``digits`` significant digits, trailing zeros kept (13.80)."""
    return f"{value:#.{digits}g}".rstrip(".")


def describe_priors(chosen):
    """Lines naming the priors used: the data's, the options', or both."""
    options = {
        "prior_mean": "mean of mu",
        "prior_std": "sd of mu",
        "prior_shape": "shape of tau",
        "prior_rate": "rate of tau",
    }
    if len(chosen) == len(PRIOR_NAMES):
        return [
            "Priors for every column: mu ~ Normal("
            f"{chosen['prior_mean']:g}, {chosen['prior_std']:g}^2), tau ~ Gamma("
            f"shape={chosen['prior_shape']:g}, rate={chosen['prior_rate']:g})"
        ]
    lines = [f"Priors: {DATA_PRIOR}", f"  {DATA_PRIOR_FORMULA}"]
    if chosen:
        given = ", ".join(
            f"{options[name]} {value:g}" for name, value in chosen.items()
        )
        lines.append(f"  except, from the options, for every column: {given}")
    return lines


def result(source, estimator, used, chosen, args, data=None):
    """The fit as a JSON-ready dict: the content of both output formats.

    Parameters
    ----------
    source : DataSource
        The data read.
    estimator : VariationalNormalEstimator
        Fitted on all of ``source``.
    used : dict
        The priors of the fit, one array of shape (n_columns,) each.
    chosen : dict
        The priors given as options (scalars); the others came from the data.
    args : argparse.Namespace
        The command's options.
    data : ndarray of shape (n_rows, n_columns) or None
        The rows fitted, where the model held them in memory (--robust):
        ``--diagnose`` then checks q by PSIS on them.
    """
    # The exact central interval of p(mu | X): it holds the level it promises,
    # where q(mu)'s is too narrow with few rows (--diagnose adds q's). The
    # Student-t model (--robust) needs the rows again for it (no statistics
    # summarise its likelihood): those the fit kept.
    robust = hasattr(estimator, "degrees_of_freedom_")
    method = "exact"
    if robust:
        lower, upper = estimator.credible_interval(
            args.level, method=method, X=source.data
        )
    else:
        lower, upper = estimator.credible_interval(args.level, method=method)
    columns = [
        {
            "name": name,
            # The plain mean, beside the posterior so that the prior's pull
            # is visible.
            "data_mean": float(estimator.sample_mean_[j]),
            "posterior_mean": float(estimator.posterior_mean_[j]),
            "posterior_std": float(estimator.posterior_std_[j]),
            "credible_interval": [float(lower[j]), float(upper[j])],
            "noise_std": float(estimator.noise_std_[j]),
            "prior": {prior: float(used[prior][j]) for prior in PRIOR_NAMES},
        }
        for j, name in enumerate(source.columns)
    ]
    if robust:
        for j, column in enumerate(columns):
            column["degrees_of_freedom"] = float(estimator.degrees_of_freedom_[j])
    out = {
        "data": source.description,
        "file": source.path,
        # Which model: Normal noise, or Student-t (--robust) with its nu.
        "model": "student-t" if robust else "normal",
        # The nu given (the start, when fitted); each column's is in columns.
        "degrees_of_freedom": estimator.degrees_of_freedom if robust else None,
        "degrees_of_freedom_fitted": robust
        and estimator.degrees_of_freedom_update == "fit",
        "prior": "options" if len(chosen) == len(PRIOR_NAMES) else DATA_PRIOR,
        # Each prior: its option's value, or "data" when it came from the data.
        "priors": {name: chosen.get(name, "data") for name in PRIOR_NAMES},
        "prior_description": describe_priors(chosen),
        "credible_level": args.level,
        "credible_interval_method": method,
        "columns": columns,
        "elbo": float(estimator.elbo_),
        "n_iter": int(estimator.n_iter_),
        "max_iter": args.max_iter,
        "tol": args.tol,
        "converged": bool(estimator.converged_),
        "rows_read": source.rows_read,
        # Rows left out for a missing value (--missing drop); 0 otherwise.
        "rows_dropped": source.rows_dropped,
        "missing": args.missing,
        "plot": args.plot,
    }
    if getattr(args, "diagnose", False):
        if robust:
            # PSIS's check of q, then q's interval beside the exact one.
            _add_psis(estimator, out, data)
        _add_diagnosis(estimator, out, args.level)
    out["notes"] = notes(out)
    return out


def _add_diagnosis(estimator, result, level):
    """The exact posterior's sd of mu, q's sd ratio, KL(q || exact) and q's interval.

    The Student-t model (--robust) gets q's interval only: its exact sd and
    KL have no closed form to read off the fitted estimator.
    """
    import warnings

    from ..diagnostics import exact_posterior

    if hasattr(estimator, "degrees_of_freedom_"):
        lower, upper = estimator.credible_interval(level, method="variational")
        for j, column in enumerate(result["columns"]):
            column["variational_interval"] = [float(lower[j]), float(upper[j])]
        return

    with warnings.catch_warnings(record=True) as caught:
        # Its warnings become notes (stderr is for errors only).
        warnings.simplefilter("always")
        exact = exact_posterior(estimator)
    lower, upper = estimator.credible_interval(level, method="variational")
    for j, column in enumerate(result["columns"]):
        column["exact_std"] = float(exact.std[j])
        column["std_ratio"] = float(exact.std_ratio[j])
        column["kl"] = float(exact.kl[j])
        column["variational_interval"] = [float(lower[j]), float(upper[j])]
    failed = [
        column["name"]
        for column in result["columns"]
        if not math.isfinite(column["exact_std"])
    ]
    result["diagnosis_notes"] = []
    if failed:
        result["diagnosis_notes"].append(
            f"The exact posterior of {', '.join(failed)} is beyond float64's range "
            "(a prior on mu 1e150 or more times wider than the data's scale): "
            "its sd, ratio and KL are left out (null in JSON)."
        )
    elif caught:
        result["diagnosis_notes"].append(
            "The exact posterior's quadrature converged slowly (a posterior with "
            "heavy tails under a nearly flat prior): its sd is set by the prior."
        )


def _add_psis(estimator, result, data):
    """PSIS from q (the Student-t model has no exact posterior): k-hat per column.

    With the importance-corrected sd of mu and q's over it (below 1 when q is
    too narrow); 1000 draws from seed 0, so that a rerun prints the same.
    """
    import warnings

    from ..diagnostics import psis_diagnostic

    with warnings.catch_warnings():
        # The reading says what arviz-stats' warnings on a heavy tail say.
        warnings.simplefilter("ignore")
        check = psis_diagnostic(estimator, data, random_state=0)
    for j, column in enumerate(result["columns"]):
        corrected = float(check.std["mu"][j])
        column["khat"] = float(check.khat[j])
        column["psis_reading"] = str(check.reading[j])
        column["psis_std"] = corrected
        column["psis_std_ratio"] = (
            column["posterior_std"] / corrected if corrected > 0 else math.nan
        )
    untrusted = [
        column["name"]
        for column in result["columns"]
        if column["psis_reading"] == "do not trust"
    ]
    result["diagnosis_notes"] = []
    if untrusted:
        result["diagnosis_notes"].append(
            f"PSIS does not trust q for {', '.join(untrusted)} (k-hat 0.7 or more, "
            "or the importance weights collapsed onto a few draws): q(mu) q(tau) "
            "is far from the exact posterior there, and so are its mean, sd and "
            "interval; check the degrees of freedom (--fit-degrees-of-freedom) "
            "or the priors."
        )


def notes(result):
    """Advice on the fit, the same in the table and in JSON."""
    found = []
    if not result["converged"]:
        found.append(
            f"CAVI did not converge in max_iter={result['max_iter']} iterations: "
            "raise --max-iter."
        )
    # The rule compares the posterior mean with the data mean, the Normal
    # model's answer from the data; the Student-t model's robust answer
    # departs from it by design (outliers), so the note is the Normal's only.
    note = _prior_note(result) if result["model"] == "normal" else None
    if note:
        found.append(note)
    found.extend(result.pop("diagnosis_notes", []))
    return found


def _prior_note(result):
    """A hint when a chosen prior on mu, not the data, decides the posterior mean.

    The rule is the estimator's own (``PriorDataConflictWarning``), which the
    command turns into this note.
    """
    from .._core.normal_gamma import prior_data_conflicts

    columns = result["columns"]
    conflicts = prior_data_conflicts(
        [column["data_mean"] for column in columns],
        [column["posterior_mean"] for column in columns],
        [column["posterior_std"] for column in columns],
    )
    pulled = [column for column, pull in zip(columns, conflicts, strict=True) if pull]
    if not pulled:
        return None
    spread = max(
        abs(column["data_mean"] - column["prior"]["prior_mean"]) for column in columns
    )
    suggestion = 10.0 ** math.ceil(math.log10(10 * spread)) if spread > 0 else 1.0
    return (
        f"The prior on mu pulls the posterior mean of {len(pulled)} of "
        f"{len(columns)} columns far (over 2 sd of mu) from the data mean. If that "
        "prior is not what you know, widen it, e.g. --prior-std "
        f"{suggestion:g}, or leave out --prior-mean and --prior-std to centre it "
        "on the data."
    )


def dropped_rows(count):
    """The table's line for the rows that ``--missing drop`` left out."""
    return f"{count:,} (with a missing value; --missing drop)"


def _or_na(value, spec):
    """``value`` formatted, or ``n/a`` when it could not be computed."""
    return format(value, spec) if math.isfinite(value) else "n/a"


def format_json(result):
    """The result as indented JSON (strict: no NaN nor Infinity)."""
    return json.dumps(json_safe(result), indent=2, allow_nan=False)


def _interval_cell(lower, upper, rows, first):
    """``[lower, upper]``, each bound as wide as the widest in its table column."""
    lower_width = max(len(row[first]) for row in rows)
    upper_width = max(len(row[first + 1]) for row in rows)
    return f"[{lower.rjust(lower_width)}, {upper.rjust(upper_width)}]"


def format_table(result):
    """The result as aligned text for people."""
    rows = []
    for column in result["columns"]:
        # Show the digits that the uncertainty of mu leaves meaningful.
        places = decimals(column["posterior_std"])
        lower, upper = column["credible_interval"]
        rows.append(
            [
                column["name"],
                format_number(column["data_mean"], places),
                format_number(column["posterior_mean"], places),
                format_number(lower, places),
                format_number(upper, places),
                _significant(column["posterior_std"], 2),
                _significant(column["noise_std"], 4),
            ]
            + (
                [_significant(column["degrees_of_freedom"], 3)]
                if "degrees_of_freedom" in column
                else []
            )
            + (
                [
                    _or_na(column["khat"], ".2f"),
                    column["psis_reading"],
                    _or_na(column["psis_std_ratio"], ".3f"),
                ]
                if "khat" in column
                else []
            )
            + (
                [_or_na(column["std_ratio"], ".3f"), _or_na(column["kl"], ".2g")]
                if "std_ratio" in column
                else []
            )
            + (
                [
                    format_number(bound, places)
                    for bound in column["variational_interval"]
                ]
                if "variational_interval" in column
                else []
            )
        )
    first = result["columns"][0]
    compared = "std_ratio" in first
    # --robust --diagnose: PSIS's three columns after nu.
    checked = "khat" in first
    diagnosed = "variational_interval" in first
    level = format_level(result["credible_level"])
    table = [
        [
            "column",
            "data mean",
            "mean of mu",
            f"{level} credible interval ({result['credible_interval_method']})",
            "sd of mu",
            "noise sd",
        ]
        + (["nu"] if result["model"] == "student-t" else [])
        + (["k-hat", "PSIS reading", "sd / PSIS sd"] if checked else [])
        + (["sd / exact sd", "KL(q||exact)"] if compared else [])
        + ([f"{level} interval of q"] if diagnosed else [])
    ]
    # q's interval, when shown, is the last two cells of each row.
    last = len(rows[0]) - 2
    for name, data_mean, mean, lower, upper, std, noise, *more in rows:
        interval = _interval_cell(lower, upper, rows, 3)
        if diagnosed:
            more = more[:-2] + [_interval_cell(*more[-2:], rows, last)]
        table.append([name, data_mean, mean, interval, std, noise, *more])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [f"Data: {result['data']}", *result["prior_description"]]
    if result["model"] == "student-t":
        nu = (
            "degrees of freedom nu fitted per column"
            if result["degrees_of_freedom_fitted"]
            else f"{result['degrees_of_freedom']:g} degrees of freedom"
        )
        lines.append(f"Model: Student-t noise, {nu} (--robust); noise sd is its scale")
    lines.append("")
    for row in table:
        cells = [row[0].ljust(widths[0])]
        for i in range(1, len(row)):
            # Intervals have one width already; centre them under their
            # title, as PSIS's reading (a word) under its own.
            align = (
                str.center
                if i == 3 or (checked and i == 8) or (diagnosed and i == len(row) - 1)
                else str.rjust
            )
            cells.append(align(row[i], widths[i]))
        lines.append("  ".join(cells).rstrip())
    if result["converged"]:
        converged = "yes"
    else:
        converged = f"no: max_iter={result['max_iter']} reached"
    footer = [
        ("ELBO", f"{result['elbo']:.6f}"),
        ("iterations", str(result["n_iter"])),
        ("converged", converged),
        ("rows read", f"{result['rows_read']:,}"),
    ]
    if result["missing"] == "drop":
        footer.append(("rows dropped", dropped_rows(result["rows_dropped"])))
    if result["plot"]:
        footer.append(("plot", result["plot"]))
    label_width = max(len(label) for label, _ in footer)
    lines.append("")
    lines.extend(f"{label.ljust(label_width)}  {value}" for label, value in footer)
    for note in result["notes"]:
        lines.extend(["", textwrap.fill(f"Note: {note}", width=79)])
    return "\n".join(lines)
