"""GPU benchmarks (array API dispatch) for bench_mixture.py and bench_normal.py.

``python benchmarks/bench_mixture.py --array-api torch --device cuda`` and
``python benchmarks/bench_normal.py --array-api torch --device cuda`` land
here (also ``--array-api cupy``, and ``array_api_strict`` to try the script
on a CPU-only machine). The data are made on the device; every timing is
bracketed by the device's synchronisation (``torch.cuda.synchronize()``,
CuPy's ``Device.synchronize()``), so that it measures the work, not its
launch. Needs numpy, scipy, scikit-learn and the array library only (skvi
from source on PYTHONPATH); SCIPY_ARRAY_API=1 is set by the callers before
scipy is imported, as scikit-learn's dispatch requires.

Mixture: per-iteration time of skvi's VariationalGaussianMixture (M-step on
the host, E-step and statistics on the device) against scikit-learn's
GaussianMixture (EM, all on the device) on the same arrays, and against a
plain E-step + responsibility statistics written directly in the array
library (the floor). Normal: VariationalNormalEstimator's fit against the
floor ``X.sum(0) + (X * X).sum(0)``.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np


def _library(name):
    """(array library module, its array-api-compat namespace)."""
    module = importlib.import_module(name)
    from sklearn.externals.array_api_compat import array_namespace

    probe = module.asarray([1.0]) if hasattr(module, "asarray") else None
    return module, array_namespace(probe)


def _synchroniser(name, device):
    """A function that waits until the device has finished its queued work."""
    if name == "torch" and str(device).startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    if name == "cupy":
        import cupy

        return cupy.cuda.Device().synchronize
    return lambda: None


def _to_device(name, module, X, device):
    """numpy X as an array of the library on ``device``."""
    if name == "torch":
        return module.asarray(X, device=device)
    if name == "cupy":
        return module.asarray(X)
    if name == "array_api_strict":
        return module.asarray(X)
    return module.asarray(X, device=device)


def _standard_normal(name, module, shape, dtype, device, seed=0):
    """Standard normal data made on the device (no host copy of a large X)."""
    if name == "torch":
        generator = module.Generator(device=device).manual_seed(seed)
        return module.randn(
            shape, generator=generator, dtype=getattr(module, dtype), device=device
        )
    if name == "cupy":
        return module.random.default_rng(seed).standard_normal(shape, dtype=dtype)
    X = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return _to_device(name, module, X, device)


def _describe(name, module, device):
    import scipy
    import sklearn

    line = (
        f"# Python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, {name} "
        f"{getattr(module, '__version__', '?')}; device {device}"
    )
    if name == "torch" and str(device).startswith("cuda"):
        line += f" ({module.cuda.get_device_name()})"
    if name == "cupy":
        props = module.cuda.runtime.getDeviceProperties(0)
        line += f" ({props['name'].decode()})"
    return line + f"; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"


def _timed(function, synchronise, repeats):
    """Median wall time of ``function()`` over ``repeats`` runs, synchronised."""
    times = []
    for _ in range(repeats):
        synchronise()
        start = time.perf_counter()
        function()
        synchronise()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------
# The mixture


def _mixture_data(n_samples, n_features, n_components, seed=0):
    """A mixture of ``n_components`` Gaussians (numpy float64)."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.standard_normal((n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    return centres[labels] + rng.standard_normal((n_samples, n_features))


def _timed_classes(synchronise):
    """skvi's and scikit-learn's mixtures with their iteration steps timed."""
    from sklearn.mixture import GaussianMixture

    from skvi import VariationalGaussianMixture

    def timed(method, log):
        def wrapper(self, *args, **kwargs):
            synchronise()
            start = time.perf_counter()
            result = method(self, *args, **kwargs)
            synchronise()
            self._times.setdefault(log, []).append(time.perf_counter() - start)
            return result

        return wrapper

    class TimedSkvi(VariationalGaussianMixture):
        _sweep = timed(VariationalGaussianMixture._sweep, "sweep")
        _elbo = timed(VariationalGaussianMixture._elbo, "elbo")

    class TimedSklearn(GaussianMixture):
        _e_step = timed(GaussianMixture._e_step, "e")
        _m_step = timed(GaussianMixture._m_step, "m")
        _compute_lower_bound = timed(GaussianMixture._compute_lower_bound, "bound")

    return TimedSkvi, TimedSklearn


def _iteration_times(estimator):
    """Each iteration's seconds: skvi's sweep + ELBO, scikit-learn's E + M + bound."""
    times = estimator._times
    if "sweep" in times:
        return [a + b for a, b in zip(times["sweep"], times["elbo"], strict=True)]
    n = len(times["m"])
    # The E-step of iteration i is the i-th (the last one labels, after the loop).
    return [times["e"][i] + times["m"][i] + times["bound"][i] for i in range(n)]


def _fit_timed(cls, X, params):
    from sklearn.exceptions import ConvergenceWarning

    estimator = cls(**params)
    estimator._times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
    return estimator, statistics.median(_iteration_times(estimator))


def _plain_step(xp, covariance_type):
    """A plain E-step + responsibility statistics in the namespace ``xp`` (the floor).

    What any EM or CAVI iteration must do with the rows, written directly:
    log-densities from precomputed Cholesky factors, log-sum-exp,
    responsibilities, then ``N_k``, ``r^T X`` and the per-component scatter
    (full) or ``r^T X**2`` (diag), as scikit-learn's GaussianMixture does.
    """

    def full(X, projection, projected_means, offset):
        n, d = X.shape
        K = offset.shape[0]
        y = X @ projection - projected_means
        log_rho = offset - 0.5 * xp.sum(xp.reshape(y * y, (n, K, d)), axis=2)
        top = xp.max(log_rho, axis=1, keepdims=True)
        resp = xp.exp(log_rho - top)
        resp = resp / xp.sum(resp, axis=1, keepdims=True)
        weight = xp.sum(resp, axis=0)
        means = (resp.T @ X) / weight[:, None]
        scatters = []
        for k in range(K):
            centred = X - means[k, :]
            scatters.append((resp[:, k][:, None] * centred).T @ centred)
        return weight, means, xp.stack(scatters)

    def diag(X, precisions_t, cross_t, constant):
        log_rho = -0.5 * ((X * X) @ precisions_t - X @ cross_t + constant)
        top = xp.max(log_rho, axis=1, keepdims=True)
        resp = xp.exp(log_rho - top)
        resp = resp / xp.sum(resp, axis=1, keepdims=True)
        return xp.sum(resp, axis=0), resp.T @ X, resp.T @ (X * X)

    return full if covariance_type == "full" else diag


def _plain_arguments(xp, X, estimator, covariance_type, device, dtype):
    """The plain step's parameters from a fitted skvi mixture (host numpy)."""
    fitted = estimator._on_host()
    means = fitted.means_
    U = fitted.precisions_cholesky_
    K, d = means.shape

    def put(array):
        return xp.asarray(np.ascontiguousarray(array), dtype=dtype, device=device)

    if covariance_type == "full":
        projection = U.transpose(0, 2, 1).reshape(K * d, d).T
        projected = np.einsum("kd,kde->ke", means, U).reshape(K * d)
        return put(projection), put(projected), put(np.log(fitted.weights_))
    precisions = U**2
    return (
        put(precisions.T),
        put((2.0 * means * precisions).T),
        put((means**2 * precisions).sum(1)),
    )


def mixture_main(argv=None):
    parser = argparse.ArgumentParser(description="skvi's mixture on a device")
    parser.add_argument("--array-api", required=True, help="torch, cupy, ...")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=float, default=2e6)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--types", nargs="+", default=["full", "diag"])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=7)
    args, _ = parser.parse_known_args(argv)

    import sklearn

    name = args.array_api
    module, xp = _library(name)
    device = args.device if name in ("torch",) else None
    synchronise = _synchroniser(name, args.device)
    print(_describe(name, module, args.device))
    print(
        "per iteration: median over the fit's iterations (skvi: M-step on the "
        "host + E-step and statistics on the device + ELBO; scikit-learn "
        "GaussianMixture: E + M + bound, all on the device); floor: a plain "
        f"E-step + statistics in {name}, median of {args.repeats}"
    )
    print(
        "| n | d | K | type | dtype | skvi ms/iter | sklearn GMM ms/iter "
        "| floor ms | skvi / GMM | skvi / floor | float32 vs float64 means |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    n = int(args.rows)
    host = _mixture_data(n, args.features, args.components)
    TimedSkvi, TimedSklearn = _timed_classes(synchronise)
    for covariance_type in args.types:
        fitted_means = {}
        for dtype in args.dtypes:
            X = _to_device(name, module, host.astype(dtype), device)
            params = dict(
                n_components=args.components,
                covariance_type=covariance_type,
                init_params="random_from_data",
                random_state=0,
                tol=0.0,
                max_iter=args.iterations,
            )
            with sklearn.config_context(array_api_dispatch=True):
                # Warm-up: the library's kernels, cuBLAS handles, ...
                _fit_timed(TimedSkvi, X, dict(params, max_iter=1))
                skvi, skvi_time = _fit_timed(TimedSkvi, X, params)
                try:
                    _fit_timed(TimedSklearn, X, dict(params, max_iter=1))
                    _, sklearn_time = _fit_timed(TimedSklearn, X, params)
                except Exception as exc:  # an older scikit-learn, say
                    print(f"# GaussianMixture failed: {type(exc).__name__}: {exc}")
                    sklearn_time = float("nan")
            fitted_means[dtype] = skvi._on_host().means_
            step = _plain_step(xp, covariance_type)
            arguments = _plain_arguments(xp, X, skvi, covariance_type, device, X.dtype)
            floor = _timed(
                lambda step=step, X=X, arguments=arguments: step(X, *arguments),
                synchronise,
                args.repeats,
            )
            accuracy = ""
            if dtype == "float32" and "float64" in fitted_means:
                reference = fitted_means["float64"]
                error = np.max(np.abs(fitted_means["float32"] - reference))
                accuracy = f"{error / np.max(np.abs(reference)):.1e}"
            print(
                f"| {n:.0e} | {args.features} | {args.components} | {covariance_type} "
                f"| {dtype} | {1e3 * skvi_time:.2f} | {1e3 * sklearn_time:.2f} "
                f"| {1e3 * floor:.2f} | {skvi_time / sklearn_time:.2f} "
                f"| {skvi_time / floor:.2f} | {accuracy} |",
                flush=True,
            )
    return 0


# --------------------------------------------------------------------------
# The Normal model


def normal_main(argv=None):
    parser = argparse.ArgumentParser(description="skvi's Normal fit on a device")
    parser.add_argument("--array-api", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=float, nargs="+", default=[1e8])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    parser.add_argument("--repeats", type=int, default=5)
    args, _ = parser.parse_known_args(argv)

    import sklearn

    from skvi import VariationalNormalEstimator

    name = args.array_api
    module, xp = _library(name)
    device = args.device if name in ("torch",) else None
    synchronise = _synchroniser(name, args.device)
    print(_describe(name, module, args.device))
    print(
        f"time: median of {args.repeats}, synchronised; floor: "
        "X.sum(0) + (X * X).sum(0) in the library"
    )
    print(
        "| n | d | dtype | case | ms | × floor | mean vs float64 mean "
        "| noise sd vs float64 sd |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for rows in args.rows:
        n = int(rows)
        for dtype in args.dtypes:
            X = _standard_normal(name, module, (n, args.features), dtype, device)
            X = X + 3.0

            def floor(X=X):
                return xp.sum(X, axis=0) + xp.sum(X * X, axis=0)

            floor()
            floor_time = _timed(floor, synchronise, args.repeats)
            for covariance_type in ("diag", "full"):
                estimator = VariationalNormalEstimator(covariance_type=covariance_type)
                with sklearn.config_context(array_api_dispatch=True):
                    estimator.fit(X)
                    fit_time = _timed(
                        lambda estimator=estimator, X=X: estimator.fit(X),
                        synchronise,
                        args.repeats,
                    )
                fitted = estimator._on_host()
                # The reference: the sample moments in float64 on the device.
                wide = xp.astype(X, xp.float64) if dtype != "float64" else X
                mean = np.asarray(_host(xp.mean(wide, axis=0)))
                std = np.asarray(_host(xp.std(wide, axis=0)))
                del wide
                mean_error = np.max(np.abs(fitted.sample_mean_ - mean)) / np.max(
                    np.abs(mean)
                )
                noise = fitted.noise_std_
                sd_error = np.max(np.abs(noise - std) / std)
                print(
                    f"| {n:.0e} | {args.features} | {dtype} | fit {covariance_type} "
                    f"| {1e3 * fit_time:.1f} | {fit_time / floor_time:.2f} "
                    f"| {mean_error:.1e} | {sd_error:.1e} |",
                    flush=True,
                )
            print(
                f"| {n:.0e} | {args.features} | {dtype} | floor | "
                f"{1e3 * floor_time:.1f} | 1.00 | | |",
                flush=True,
            )
    return 0


def _host(array):
    from skvi._core.namespaces import to_numpy

    return to_numpy(array)


def wants_array_api(argv=None):
    """Whether the command line asks for a device run (``--array-api``)."""
    arguments = sys.argv[1:] if argv is None else argv
    return any(argument.startswith("--array-api") for argument in arguments)
