"""
Fitting data spread over a dask cluster
=======================================

:class:`~skvi.VariationalNormalEstimator` needs only three sufficient
statistics per feature, so a dask array is reduced where its chunks live: each
worker summarises its own chunks, the client merges a few numbers per chunk,
and the data never travel. This example makes a large array *on the workers*
(nothing is created on the client), fits it, and then chooses the priors with
:class:`~sklearn.model_selection.GridSearchCV` run by the cluster through
joblib's dask backend.

Run it as a script::

    python examples/dask_cluster.py                      # a local 2-worker cluster
    python examples/dask_cluster.py --scheduler tcp://host:8786   # your cluster
    python examples/dask_cluster.py --rows 20_000_000    # more data

The workers must be able to import skvi (``pip install skvi[dask]`` on them).
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import time

import dask.array as da
import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from skvi import VariationalNormalEstimator

# Each feature's true mean and noise sd.
TRUE_MEAN = np.array([5.0, -1.0, 2e4, 0.0])
TRUE_STD = np.array([2.0, 0.1, 3.0, 1e-3])


def make_data(n_rows, chunk_rows, seed=0):
    """An (n_rows, 4) dask array whose chunks are drawn on the workers."""
    rng = da.random.default_rng(seed)
    # Scaled standard draws: passing the (4,) arrays to rng.normal would
    # broadcast them to the full shape in the task graph, on the client.
    noise = rng.standard_normal(size=(n_rows, 4), chunks=(chunk_rows, 4))
    return TRUE_MEAN + TRUE_STD * noise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument(
        "--scheduler", help="address of a running dask scheduler (default: local)"
    )
    parser.add_argument("--rows", type=float, default=5e6, help="number of rows")
    parser.add_argument("--chunk-rows", type=float, default=1e6, help="rows a chunk")
    args = parser.parse_args(argv)
    n_rows, chunk_rows = int(args.rows), int(min(args.chunk_rows, args.rows))

    if args.scheduler:
        with Client(args.scheduler) as client:
            run(client, n_rows, chunk_rows)
    else:
        # Small on purpose: 2 single-threaded worker processes.
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            run(client, n_rows, chunk_rows)


def run(client, n_rows, chunk_rows):
    """Fit the whole array, then search the priors, on the client's cluster."""
    print(f"dask dashboard: {client.dashboard_link}")

    X = make_data(n_rows, chunk_rows)
    print(
        f"X: {n_rows:,} x 4 float64 ({X.nbytes / 2**30:.2f} GiB), "
        f"{X.numblocks[0]} chunks, made on the workers"
    )

    start = time.perf_counter()
    # The default priors come from the data, resolved from the statistics that
    # the workers send back: no second pass over X.
    estimator = VariationalNormalEstimator().fit(X)
    elapsed = time.perf_counter() - start
    print(f"fit: {elapsed:.2f} s ({n_rows / elapsed / 1e6:.1f} M rows/s)")
    np.set_printoptions(precision=6, suppress=False)
    print(f"true mean:           {TRUE_MEAN}")
    print(f"posterior mean:      {estimator.posterior_mean_}")
    print(f"posterior sd of mean:{estimator.posterior_std_}")
    print(f"true noise sd:       {TRUE_STD}")
    print(f"noise sd:            {estimator.noise_std_}")
    print(f"ELBO: {estimator.elbo_:.6g} after {estimator.n_iter_} iterations")

    # Model selection over the priors: each candidate and fold is a joblib
    # task, which the dask backend sends to the cluster. A small sample is
    # enough to tell the priors apart, and it is what the folds copy around.
    sample = make_data(20_000, 20_000, seed=1)[:, :2].compute()
    grid = {"prior_std": [0.01, 1.0, 100.0], "prior_rate": [1e-3, 1.0, 1e3]}
    start = time.perf_counter()
    with joblib.parallel_backend("dask"):
        search = GridSearchCV(VariationalNormalEstimator(), grid, n_jobs=2).fit(sample)
    print(
        f"GridSearchCV ({len(search.cv_results_['params'])} candidates x 5 folds): "
        f"{time.perf_counter() - start:.2f} s"
    )
    print(f"best priors: {search.best_params_}")
    print(f"best mean ELBO per sample: {search.best_score_:.4f}")


if __name__ == "__main__":
    main()
