"""Every gallery example runs to the end and draws at least one figure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import skvi

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))
SKVI_PARENT = str(Path(skvi.__file__).resolve().parent.parent)

# Runs an example as sphinx-gallery does (as __main__, Agg backend, plt.show a
# no-op), then saves every figure it left open.
RUNNER = """
import runpy, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.show = lambda *args, **kwargs: None
runpy.run_path(sys.argv[1], run_name="__main__")
numbers = plt.get_fignums()
if not numbers:
    sys.exit("the example drew no figure")
for number in numbers:
    plt.figure(number).savefig(f"figure_{number}.png")
"""


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_and_draws_a_figure(example, tmp_path):
    pytest.importorskip("matplotlib", reason="the examples draw with matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [SKVI_PARENT, os.environ.get("PYTHONPATH")])
    )
    process = subprocess.run(
        [sys.executable, "-c", RUNNER, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr
    figures = sorted(tmp_path.glob("figure_*.png"))
    assert figures, process.stdout
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
