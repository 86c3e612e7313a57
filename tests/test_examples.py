"""Every gallery example runs to the end and draws its figure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import skvi

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))
SKVI_PARENT = str(Path(skvi.__file__).resolve().parent.parent)


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_and_saves_its_figure(example, tmp_path):
    pytest.importorskip("matplotlib", reason="the examples draw with matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [SKVI_PARENT, os.environ.get("PYTHONPATH")])
    )
    process = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr
    figure = tmp_path / f"{example.stem}.png"
    assert figure.exists(), process.stdout
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
