"""Test-suite configuration: both cores by default, the dask cluster, hypothesis."""

import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import skvi

# Figures are drawn off-screen, here and in the subprocesses of the tests.
os.environ["MPLBACKEND"] = "Agg"
# Idle OpenMP threads (scikit-learn's k-means) sleep rather than spin: with a
# test process per core, a spinning thread takes the core another one needs
# (k-means on 8 rows: 15 ms a call instead of 2). The thread counts, and so
# the results, are unchanged. libgomp reads it when it loads: this reaches
# the pytest-xdist workers, started after this, not this process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# Where skvi and this test package are imported from: the worktree in
# development, site-packages (skvi) and the checkout (tests) in CI.
IMPORT_ROOTS = [
    str(Path(skvi.__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent),
]


# The tests that use the `client` fixture below: pytest-xdist runs them on
# one worker, so that one dask cluster serves them all.
DASK_TESTS = (
    "tests/test_dask.py::",
    "tests/test_mixture_dask.py::",
    "tests/test_normal_full.py::test_dask_",
    "tests/test_diagnostics.py::test_psis_on_dask_data",
)
_DEFAULT_DISTRIBUTION = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The whole suite on every core (pytest-xdist's ``-n auto``).

    Only when pytest is given no paths (it runs ``testpaths``): a chosen file
    or test runs in one process, which starts seconds sooner, unless
    ``-n`` says otherwise. ``-n 0`` runs in one process, ``--pdb`` too, and an
    explicit ``--dist`` is obeyed. A hook rather than ``addopts = "-n auto"``,
    so that ``-p no:xdist`` still works; it runs before pytest-xdist's own,
    which resolves "auto".
    """
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if config.option.numprocesses is None and whole_suite:
        config.option.numprocesses = "auto"
    config.stash[_DEFAULT_DISTRIBUTION] = config.option.dist == "no"


def pytest_configure(config):
    """An ELBO that decreases fails the test, in the processes that run tests.

    Not in pytest-xdist's controller: resolving the warning's class imports
    skvi.exceptions and so scikit-learn, 1.1 s before any worker starts.
    """
    controller = (
        config.pluginmanager.hasplugin("xdist")
        and not hasattr(config, "workerinput")
        and config.getoption("numprocesses", None) not in (None, 0)
    )
    if not controller:
        config.addinivalue_line(
            "filterwarnings", "error::skvi.exceptions.ELBODecreaseWarning"
        )
        # Many tests choose a prior at odds with the data on purpose (that is
        # where mean-field errs most); the warning's own tests catch it with
        # pytest.warns, which this filter does not hide.
        config.addinivalue_line(
            "filterwarnings", "ignore::skvi.exceptions.PriorDataConflictWarning"
        )
    else:
        # One thread of BLAS and OpenMP per test process, when the test
        # processes fill the cores: more oversubscribe them, and OpenBLAS's
        # idle threads spin (the suite took 12% more CPU time and 15% longer
        # with two per process on two cores). The variables reach the
        # workers, which pytest-xdist starts after this, and their dask
        # clusters. Tests of skvi's threads set the thread count themselves.
        for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(variable, "1")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Test by test to whichever worker is free, the dask tests as one unit.

    pytest-xdist's ``--dist loadgroup`` would do it with ``xdist_group``
    marks, but it cannot rename the tests under pytest 9.2 (pytest-xdist
    issue 1386) and then silently spreads a group. Whole units go out
    largest first, so the dask tests start at once.
    """
    if not config.stash.get(_DEFAULT_DISTRIBUTION, False):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class DaskTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return "dask" if nodeid.startswith(DASK_TESTS) else nodeid

    return DaskTestsTogether(config, log)


class _Cluster:
    """The one LocalCluster of a test process and its Client, started on demand."""

    def __init__(self):
        self.cluster = self.client = None

    def start(self):
        if self.client is not None:
            return self.client
        distributed = pytest.importorskip("distributed")
        # Worker processes are new interpreters: they must import skvi (whose
        # functions run on them) and the test modules (the block generators).
        previous = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(
            IMPORT_ROOTS + ([previous] if previous else [])
        )
        try:
            self.cluster = distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                # ":0", a free port: None still binds the HTTP server to 8787,
                # which another test process's cluster may hold (a warning).
                dashboard_address=":0",
                worker_dashboard_address=":0",
                # Tests that expect errors would otherwise see them logged.
                silence_logs=logging.CRITICAL,
            )
        finally:
            # The workers have started: later subprocesses of this test
            # process get the environment they would have had.
            if previous is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = previous
        self.client = distributed.Client(self.cluster)
        return self.client

    def stop(self):
        if self.client is not None:
            self.client.close()
            self.cluster.close()
            self.cluster = self.client = None


_CLUSTER = _Cluster()


def _is_dask_test(item):
    return item is not None and item.nodeid.startswith(DASK_TESTS)


@pytest.fixture
def client():
    """A Client to a 2-worker LocalCluster in separate processes.

    One cluster per test process, started by the first test that asks for
    it. Under pytest-xdist every test that uses it runs on one worker, as one
    unit (`DASK_TESTS`), and the cluster stops after the unit's last test,
    while the other worker still runs (a stop takes seconds); in one process
    it stops at the end of the session.
    """
    return _CLUSTER.start()


def pytest_runtest_teardown(item, nextitem):
    if (
        hasattr(item.config, "workerinput")
        and _is_dask_test(item)
        and not _is_dask_test(nextitem)
    ):
        _CLUSTER.stop()


def pytest_sessionfinish(session):
    _CLUSTER.stop()
