"""The contracts of docs/architecture.md, checked against the package itself.

- Its module table names every module of ``skvi`` and nothing else.
- Only ``skvi/_core/parameters.py`` imports scikit-learn's private modules or names
  (``sklearn.utils._param_validation``, ``sklearn.externals``, a ``_name`` from
  a public module), so that a change in scikit-learn is mended in one place.
- ``tol`` means one thing per family of estimators: the ELBO's change per unit
  of weight for the single-distribution models, scikit-learn's absolute change
  of its own bound for the mixture.
"""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import skvi
from skvi import (
    VariationalGaussianMixture,
    VariationalNormalEstimator,
    VariationalStudentEstimator,
)

PACKAGE = Path(skvi.__file__).resolve().parent
ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def _package_modules():
    """Every module's path as the docs write it, e.g. ``skvi/_cli/main.py``."""
    return sorted(
        "skvi/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    )


def _module_table():
    """``{path: row text}`` of the table "Which module holds what"."""
    rows = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(skvi/[^`]*)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_module_table_is_read():
    """The parser sees the table (so that the checks below check something)."""
    rows = _module_table()
    assert "skvi/_core/base.py" in rows and "skvi/_cli/" in rows
    assert len(rows) >= 15


def test_architecture_names_every_module_and_no_other():
    rows = _module_table()
    missing = []
    for module in _package_modules():
        if module in rows:
            continue
        folder, name = module.rsplit("/", 1)
        stem = name.removesuffix(".py")
        row = rows.get(folder + "/")
        # A sub-package's row names each of its modules (its __init__ is the
        # package itself).
        if row is None or (stem != "__init__" and f"`{stem}`" not in row):
            missing.append(module)
    assert not missing, f"docs/architecture.md does not describe {missing}"
    modules = set(_package_modules())
    stale = [
        path
        for path in rows
        if path not in modules
        and not (path.endswith("/") and any(m.startswith(path) for m in modules))
    ]
    assert not stale, f"docs/architecture.md describes modules that are gone: {stale}"


def _is_private_sklearn(module, names=()):
    parts = module.split(".")
    return parts[0] == "sklearn" and (
        any(part.startswith("_") for part in parts)
        or parts[:2] == ["sklearn", "externals"]
        or any(name.startswith("_") for name in names)
    )


def _private_sklearn_imports(path):
    """``(line, what)`` of each import of a private scikit-learn name in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            if _is_private_sklearn(node.module, names):
                found.append((node.lineno, f"from {node.module} import {names}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_private_sklearn(alias.name):
                    found.append((node.lineno, f"import {alias.name}"))
    return found


def test_the_private_import_scan_finds_them():
    """The scan sees every form (so that the check below checks something)."""
    private = _private_sklearn_imports(PACKAGE / "_core" / "parameters.py")
    text = " ".join(what for _, what in private)
    assert "sklearn.utils._param_validation" in text
    assert "sklearn.externals" in text
    assert "_array_api" in text  # ``from sklearn.utils import _array_api``


def test_only_parameters_imports_private_scikit_learn():
    offenders = {
        module: _private_sklearn_imports(PACKAGE / module.removeprefix("skvi/"))
        for module in _package_modules()
        if module != "skvi/_core/parameters.py"
    }
    offenders = {module: found for module, found in offenders.items() if found}
    assert not offenders, (
        f"scikit-learn's private helpers outside skvi._core.parameters: {offenders}"
    )


def _weighted_data():
    rng = np.random.default_rng(0)
    X = rng.standard_t(3, size=(400, 2)) * 2.0 + 5.0
    # Weights 2.5: a threshold per unit of weight (W = 1000) differs from one
    # per row (n = 400) and from an absolute one.
    return X, np.full(X.shape[0], 2.5)


@pytest.mark.parametrize(
    "estimator",
    [
        # tol=1e-12: the Normal's exact fixed-point sweeps land within the
        # default tol after one change, which would test the rule less.
        VariationalNormalEstimator(tol=1e-12),
        VariationalStudentEstimator(tol=1e-9),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
def test_tol_bounds_the_elbo_change_per_unit_of_weight(estimator):
    X, weights = _weighted_data()
    fitted = estimator.fit(X, sample_weight=weights)
    assert fitted.converged_
    changes = np.abs(np.diff(fitted.elbo_history_))
    threshold = estimator.tol * weights.sum()
    assert changes.size >= 1
    # It stopped at the first change of at most tol * W, and not before.
    assert changes[-1] <= threshold
    assert np.all(changes[:-1] > threshold)


def test_mixture_tol_is_scikit_learns_absolute_change_of_its_bound():
    X, weights = _weighted_data()
    fitted = VariationalGaussianMixture(
        n_components=2, tol=1e-2, max_iter=500, random_state=0
    ).fit(X, sample_weight=weights)
    assert fitted.converged_
    changes = np.abs(np.diff(fitted.lower_bounds_))
    assert changes[-1] < fitted.tol
    assert np.all(changes[:-1] >= fitted.tol)
