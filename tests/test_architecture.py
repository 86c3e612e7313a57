"""The contracts of docs/architecture.md, checked against the package itself.

- Its module table names every module of ``skvi`` and nothing else.
- Only ``skvi/_core/parameters.py`` imports scikit-learn's private modules or names
  (``sklearn.utils._param_validation``, ``sklearn.externals``, a ``_name`` from
  a public module), so that a change in scikit-learn is mended in one place.
- The house has floors: ``skvi/_core/`` imports no model; a model's package
  (``skvi/_normal``, ``skvi/_mixture``, ``skvi/_student``) imports the core
  and no other model; ``skvi.diagnostics`` and ``skvi/_cli`` reach the models
  only through ``skvi``'s public names (and the protocol's methods); no
  import circle between modules; no module over 600 lines.
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


MODELS = ("_normal", "_mixture", "_student")
LINE_LIMIT = 600


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports():
    """``{module: {imported skvi module, ...}}``, relative imports resolved.

    ``from PKG import NAME`` counts ``PKG.NAME`` when that is a module.
    """
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    found = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[
                        : len(package.split(".")) - node.level + 1
                    ]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                submodules = {
                    f"{module}.{alias.name}"
                    for alias in node.names
                    if f"{module}.{alias.name}" in modules
                }
                # ``from PKG import submodule`` loads PKG's __init__ too, but
                # a submodule of PKG is loaded by PKG's __init__ in any case.
                if not submodules or not name.startswith(module + "."):
                    targets.add(module)
                targets.update(submodules)
        found[name] = {t for t in targets if t in modules and t != name}
    return found


def _room(module):
    """``"core"``, a model's package name, ``"diagnostics"``, ``"cli"`` or ``"top"``."""
    parts = module.split(".")
    if len(parts) < 2:
        return "top"
    return {"_core": "core", "diagnostics": "diagnostics", "_cli": "cli"}.get(
        parts[1], parts[1] if parts[1] in MODELS else "top"
    )


def test_the_import_scan_sees_the_layers():
    imports = _imports()
    assert "skvi._core.base" in imports["skvi._normal.estimator"]
    assert "skvi._core.engine" in imports["skvi._mixture.estep"]


def test_the_core_imports_no_model():
    upward = {
        module: sorted(m for m in targets if _room(m) not in ("core", "top"))
        for module, targets in _imports().items()
        if _room(module) == "core"
    }
    upward = {module: found for module, found in upward.items() if found}
    assert not upward, f"the core imports upwards: {upward}"


def test_a_model_imports_the_core_and_no_other_model():
    crossing = {}
    for module, targets in _imports().items():
        room = _room(module)
        if room in MODELS:
            other = sorted(m for m in targets if _room(m) not in (room, "core", "top"))
            if other:
                crossing[module] = other
    assert not crossing, f"models import other rooms: {crossing}"


def test_diagnostics_and_the_command_line_reach_models_by_public_names():
    private = {
        module: sorted(m for m in targets if _room(m) in MODELS)
        for module, targets in _imports().items()
        if _room(module) in ("diagnostics", "cli")
    }
    private = {module: found for module, found in private.items() if found}
    assert not private, f"a model's private module imported: {private}"


def test_no_import_circle():
    imports = _imports()
    # Every import, a function's included: a circle through a deferred import
    # still ties two rooms together.
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(imports[module]):
            if state.get(target) == "open":
                raise AssertionError(f"import circle: {' -> '.join(path + [target])}")
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(imports):
        if module not in state:
            visit(module, [module])


def test_no_module_over_the_line_limit():
    long = {
        "skvi/" + path.relative_to(PACKAGE).as_posix(): count
        for path in PACKAGE.rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LINE_LIMIT
    }
    assert not long, f"modules over {LINE_LIMIT} lines: {long}"
