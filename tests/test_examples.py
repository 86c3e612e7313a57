"""Every gallery example runs to the end and draws at least one figure."""

import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_and_draws_a_figure(example, tmp_path, monkeypatch):
    """Run it as sphinx-gallery does, then save every figure it left open.

    As sphinx-gallery does: in this process, as ``__main__``, ``plt.show`` a
    no-op, the Agg backend (conftest.py). What an example may change for the
    tests after it (matplotlib's and numpy's settings, the working directory,
    its figures) is put back; its warnings are the test's, so a passing
    example prints none. Its environment variables are put back too.
    """
    matplotlib = pytest.importorskip(
        "matplotlib", reason="the examples draw with matplotlib"
    )
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    monkeypatch.setattr(sys, "argv", [str(example)])
    monkeypatch.chdir(tmp_path)
    before = set(plt.get_fignums())
    # An example may set environment variables (plot_array_api.py sets
    # SCIPY_ARRAY_API=1): put back, so that later subprocesses do not inherit.
    environment = dict(os.environ)
    try:
        with matplotlib.rc_context(), np.printoptions():
            runpy.run_path(str(example), run_name="__main__")
            numbers = [n for n in plt.get_fignums() if n not in before]
            assert numbers, "the example drew no figure"
            for number in numbers:
                path = tmp_path / f"figure_{number}.png"
                plt.figure(number).savefig(path)
                assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        os.environ.clear()
        os.environ.update(environment)
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
