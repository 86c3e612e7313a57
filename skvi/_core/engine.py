"""The row-block engine: every pass over the rows of X, on every core.

A pass over the data (the Normal model's statistics, the mixture's E-step
and its statistics, the per-row scores and predictions of every estimator,
PSIS's log ratios) is the same loop: cut the rows into blocks, run a
model's *block function* on each block, and combine the blocks' results in
row order. This module is that loop, written once:

- :func:`plan` chooses the rows per block from the pass's width (the values
  its temporaries hold per row), by one policy (below);
- :func:`map_blocks` runs a block function on every block, on threads, and
  returns the results in block order; with ``merge`` it folds the results of
  each fixed group of consecutive blocks as it goes, so that memory holds one
  result per group, not per block;
- :func:`map_tasks` is the thread policy itself, for work that is not cut
  by rows (PSIS's blocks of draws).

Block and group boundaries depend on the data's shape only, never on the
number of threads, and results come back in block order: a caller that
merges them in that order gets bit-identical results whatever the thread
count. The scheduling, which blocks a thread takes, is free to vary.

The block-size policy
---------------------
A block must carry enough numpy work per Python step. A thread holds the
GIL between numpy calls (and, in numpy 2.4, through a vector-matrix
``matmul``, which is why block functions call :func:`numpy.dot`, which
releases it), so with P threads a pass scales only while P times the
GIL-held share of a block's time stays well below 1 (Amdahl: the speed-up is
at most ``1 / (s + (1 - s) / P)`` for a serial share ``s``). A block also
should stay near the cache: its temporaries are read again while hot.
:data:`BLOCK_ELEMENTS` float64 values of temporaries a block (2**18, 2 MiB),
``max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // row_elements)`` rows, balance the
two for a pass of a few numpy calls per block (the Normal model's sums).
A block function of many calls (the mixture's E-step: some 56 Python steps,
plus two per component for full scatters, each a microsecond or two,
whatever the block's size) declares them
(``plan(..., operations=...)``) and gets at least
:data:`ELEMENTS_PER_OPERATION` values per step: its Python then stays as
small a share of its time as a light pass's. ``benchmarks/bench_normal.py``
and ``benchmarks/bench_mixture.py --threads ...`` print the serial share they
measure on the machine at hand, and benchmarks/README.md the figures from
which these values were chosen (the mixture's share at 1e6 x 10, K = 8,
full, 72 steps a block: 5.0% with 2**13 values a step, 3.3% with 2**14, the
same time per iteration on one thread; diag 2.6% and 1.8%).

Arrays of other libraries (array API dispatch)
----------------------------------------------
A pass over a PyTorch or CuPy array (:mod:`skvi._core.array_api`) runs its blocks in
order from the calling thread: the library runs each operation in parallel
on its device (a GPU's thousands of cores, or the library's own CPU
threads), and skvi's threads would only contend for it. There a block has
:data:`DEVICE_BLOCK_ELEMENTS` values of temporaries (``plan(...,
block_elements=DEVICE_BLOCK_ELEMENTS)``): large enough that a pass is a few
operations per block, each filling the device, small enough that the
temporaries (1 GiB of float64) leave a GPU's memory to X itself. A pass
over 2e6 rows of a full mixture (K = 8, d = 10: 98 values a row) is two
blocks.

Threads
-------
The number of threads is the smaller of the OpenMP and the BLAS limits
(scikit-learn's ``_openmp_effective_n_threads``, which also counts the cores
available to the process, and the BLAS thread count read with threadpoolctl),
so that ``threadpoolctl.threadpool_limits(1)``, or joblib capping its
workers' native thread pools, makes every pass single-threaded, as it does
scikit-learn's OpenMP estimators. During a pass, BLAS is limited to one
thread (a block's products are small; BLAS threads on top of the workers
would oversubscribe the cores, and even alone they cost more than they give
on products of a block's size), as scikit-learn's KMeans does; the engine's
threads are the pass's parallelism. A pass of a single block, or of fewer
than :data:`MIN_PARALLEL_ELEMENTS` values, runs in the calling thread:
threads would cost more than they save. Threads are
started once and kept (a pool per process, rebuilt after a fork); the
calling thread works too, and a pass started from inside a pass (a block
function that itself passes over rows) runs in the thread that started it.
"""

# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import contextvars
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "BLOCK_ELEMENTS",
    "DEVICE_BLOCK_ELEMENTS",
    "ELEMENTS_PER_OPERATION",
    "map_blocks",
    "map_tasks",
    "plan",
    "scratch",
]

# Float64 values of temporaries per block (2 MiB): see "The block-size policy".
BLOCK_ELEMENTS = 2**18

# Values of temporaries per block on another library's device (1 GiB of
# float64): see "Arrays of other libraries" above.
DEVICE_BLOCK_ELEMENTS = 2**27

# Values of temporaries per Python step of a block function that declares
# its steps (plan's ``operations``): see "The block-size policy".
ELEMENTS_PER_OPERATION = 2**14

# The fewest rows a block holds, however wide its rows: below this the
# Python per block outweighs the work in it.
MIN_BLOCK_ROWS = 64

# Passes over fewer values than this (8 MiB of float64) run in the calling
# thread: starting the work on other threads costs more than it saves.
MIN_PARALLEL_ELEMENTS = 2**20

# Memory for the results a pass holds at once (float64 values, 64 MiB): a
# pass whose per-block results are large (a full scatter per component at
# large d) folds them in fixed groups of blocks so as to stay within it.
RESULT_ELEMENTS = 2**23


def plan(
    n_samples,
    row_elements,
    *,
    block_rows=None,
    result_elements=0,
    block_elements=None,
    operations=None,
):
    """Rows per block and blocks per merge group for a pass over ``n_samples`` rows.

    Parameters
    ----------
    n_samples : int
        Rows of the pass.
    row_elements : int
        Float64 values the block function's temporaries hold per row (its
        width: ``d`` for a diagonal pass, ``K d + K + d`` for a full E-step).
    block_rows : int, default=None
        Rows per block, to override the policy (tests, benchmarks).
    result_elements : int, default=0
        Float64 values of one block's result, for passes that fold their
        results (:func:`map_blocks` with ``merge``).
    block_elements : int, default=None
        Values of temporaries a block holds: :data:`BLOCK_ELEMENTS` (read at
        the call, so that tests and benchmarks may set it) for numpy,
        :data:`DEVICE_BLOCK_ELEMENTS` for another library's arrays.
    operations : int, default=None
        The Python steps (function calls, numpy's included) the block
        function makes per block, for a function of many: its blocks then
        hold at least ``operations * ELEMENTS_PER_OPERATION`` values, so
        that the steps stay a small share of a block's time. Not for
        another library's arrays, whose blocks are larger still.

    Returns
    -------
    block_rows : int
        ``max(MIN_BLOCK_ROWS, block_elements // row_elements)`` unless given
        (``block_elements`` raised to ``operations * ELEMENTS_PER_OPERATION``
        if that is more), and at most ``n_samples`` (at least 1).
    group_blocks : int
        Consecutive blocks whose results are folded together: 1 unless the
        blocks' results would exceed :data:`RESULT_ELEMENTS` in all.

    Examples
    --------
    >>> from skvi._core.engine import DEVICE_BLOCK_ELEMENTS, plan
    >>> plan(1_000_000, 10)
    (26214, 1)
    >>> plan(100, 10)
    (100, 1)
    >>> plan(2_000_000, 98, block_elements=DEVICE_BLOCK_ELEMENTS)
    (1369568, 1)
    """
    if block_elements is None:
        block_elements = BLOCK_ELEMENTS
        if operations is not None:
            block_elements = max(block_elements, operations * ELEMENTS_PER_OPERATION)
    if block_rows is None:
        block_rows = max(MIN_BLOCK_ROWS, block_elements // max(1, int(row_elements)))
    block_rows = int(max(1, min(block_rows, n_samples)))
    n_blocks = -(-n_samples // block_rows) if n_samples else 0
    group_blocks = 1
    if result_elements and n_blocks:
        held = n_blocks * int(result_elements)
        group_blocks = int(max(1, min(n_blocks, -(-held // RESULT_ELEMENTS))))
    return block_rows, group_blocks


def block_slices(n_samples, block_rows):
    """``[slice(start, stop)]`` of the row blocks, in order."""
    return [
        slice(start, min(start + block_rows, n_samples))
        for start in range(0, n_samples, block_rows)
    ]


def map_blocks(
    function,
    n_samples,
    block_rows,
    *,
    merge=None,
    group_blocks=1,
    row_elements=None,
    n_threads=None,
):
    """``[function(rows) for rows in blocks]``, on threads, in block order.

    Parameters
    ----------
    function : callable
        ``function(rows) -> result`` for a ``slice`` of rows; called from
        several threads at once (it must not share scratch space; numpy's
        error state is per thread, so it sets its own).
    n_samples, block_rows : int
        The rows of the pass and the rows per block (:func:`plan`).
    merge : callable, default=None
        ``merge(results) -> result``, folding the results of consecutive
        blocks of one group, in order. With ``group_blocks=1`` it is not
        called.
    group_blocks : int, default=1
        Consecutive blocks per group (:func:`plan`), fixed by the shape.
    row_elements : int, default=None
        The pass's values per row, to judge whether it is large enough for
        threads (:data:`MIN_PARALLEL_ELEMENTS`); by default one per row.
    n_threads : int, default=None
        Threads to use at most; by default :func:`available_threads`.

    Returns
    -------
    results : list
        One result per block (per group with ``merge``), in row order.
    """
    blocks = block_slices(n_samples, block_rows)
    if merge is not None and group_blocks > 1:
        groups = [
            blocks[start : start + group_blocks]
            for start in range(0, len(blocks), group_blocks)
        ]

        def unit(group):
            return merge([function(rows) for rows in groups[group]])

    else:
        groups = blocks

        def unit(block):
            return function(blocks[block])

    size = n_samples * (1 if row_elements is None else int(row_elements))
    if size < MIN_PARALLEL_ELEMENTS:
        n_threads = 1
    return map_tasks(unit, len(groups), n_threads=n_threads)


# --------------------------------------------------------------------------
# Threads


_blas_controller = None


def _blas():
    """threadpoolctl's controller of the loaded BLAS libraries, built once (~20 ms)."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController().select(user_api="blas")
    return _blas_controller


def _blas_thread_limit():
    """The smallest thread count of the loaded BLAS libraries (microseconds).

    No limit when threadpoolctl finds no BLAS it knows.
    """
    limits = [lib.num_threads for lib in _blas().lib_controllers]
    return min(limits, default=float("inf"))


def available_threads():
    """Threads a pass may use: the smaller of the OpenMP and the BLAS limits.

    Both follow ``threadpoolctl.threadpool_limits``; the OpenMP one also counts
    the cores available to the process (cgroups, ``OMP_NUM_THREADS``).
    """
    from .parameters import effective_n_threads

    return max(1, int(min(effective_n_threads(), _blas_thread_limit())))


_pool = None
_pool_lock = threading.Lock()
_in_pass = threading.local()


# Scratch memory for a block's large temporaries, kept per thread and reused
# from block to block and from pass to pass. A fresh array of a few MiB costs
# more than the arithmetic on it: glibc hands such blocks back to the system
# when they are freed (its trim and mmap thresholds), and each new one is
# faulted in page by page, serially in the kernel (measured here: X - c and
# its square for 2000 x 200 rows took 3.4 ms as fresh arrays, 0.24 ms into
# kept ones). Buffers above this many float64 values are not kept.
SCRATCH_ELEMENTS = 2**22
_scratch = threading.local()


def scratch(name, shape):
    """A float64 array of ``shape`` that this thread may use until its block ends.

    The same memory comes back to the next call with the same ``name`` in
    this thread, so the caller must be done with the array before then:
    a block function's temporaries, never a result it returns. Its content
    is whatever it held; a request above :data:`SCRATCH_ELEMENTS` values gets
    a new array.
    """
    import numpy as np  # the engine itself needs no numpy until a block does

    size = math.prod(shape)
    if size > SCRATCH_ELEMENTS:
        return np.empty(shape)
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    buffer = buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = buffers[name] = np.empty(size)
    return buffer[:size].reshape(shape)


def _executor(n_workers):
    """The process's pool of worker threads, at least ``n_workers`` of them.

    Started on first use and kept; a larger pool replaces it when more
    threads are allowed later (the old one's threads finish what they hold).
    """
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n_workers:
            _pool = ThreadPoolExecutor(
                max_workers=max(n_workers, os.cpu_count() or 1),
                thread_name_prefix="skvi-blocks",
            )
        return _pool


def _forget_pool():
    """A forked child does not inherit the parent's threads: start afresh."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def map_tasks(function, n_tasks, *, n_threads=None):
    """``[function(t) for t in range(n_tasks)]``, on several threads if worthwhile.

    ``n_threads`` loops (the calling thread and ``n_threads - 1`` of the
    pool's) take the next task from a shared counter until none is left, so
    that uneven tasks even out and the Python per task is one ``next``;
    results come back in task order. The first task (in task order) that
    raised re-raises here, after the others have stopped. Runs in the
    calling thread for one task, one thread, or a call from inside a pass
    (a task that itself passes over rows).
    """
    if n_threads is None:
        n_threads = available_threads() if n_tasks > 1 else 1
    n_threads = int(min(n_threads, n_tasks))
    if getattr(_in_pass, "active", False):
        return [function(task) for task in range(n_tasks)]
    if n_threads <= 1:
        # BLAS on one thread here too: its threads on a block's small
        # products cost more than they give (10x per mixture iteration at
        # 2e4 x 4 on two busy cores), as scikit-learn's KMeans finds.
        with one_blas_thread():
            return [function(task) for task in range(n_tasks)]
    results = [None] * n_tasks
    errors = {}
    counter = itertools.count()

    def loop():
        _in_pass.active = True
        try:
            for task in counter:
                if task >= n_tasks or errors:
                    return
                try:
                    results[task] = function(task)
                except BaseException as error:  # re-raised by the caller
                    errors[task] = error
        finally:
            _in_pass.active = False

    # The workers run in copies of the caller's context, which carries
    # numpy's error state (numpy >= 2); block functions that must hold on
    # numpy 1.26 too set their own.
    context = contextvars.copy_context()
    with one_blas_thread():
        pool = _executor(n_threads - 1)
        futures = [pool.submit(context.copy().run, loop) for _ in range(n_threads - 1)]
        loop()
        for future in futures:
            future.result()
    if errors:
        raise errors[min(errors)]
    return results


@contextlib.contextmanager
def in_calling_thread():
    """Passes started inside run in the calling thread (BLAS still on one).

    For work that is already one of many running in parallel: a dask task
    on a worker, whose chunk is one of many that dask's threads or
    processes reduce at once. The blocks and their merge are those of any
    thread count, so results do not change.
    """
    previous = getattr(_in_pass, "active", False)
    _in_pass.active = True
    try:
        with one_blas_thread():
            yield
    finally:
        _in_pass.active = previous


_blas_capped = threading.Lock()


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread while the workers run, as scikit-learn's KMeans does.

    Each worker's matrix products are small; BLAS threads on top of the
    workers would oversubscribe the cores. BLAS's limit is process-wide, so
    only one call at a time sets and restores it (others running concurrently
    leave it alone), and a limit is never left behind.
    """
    if not _blas_capped.acquire(blocking=False):
        yield
        return
    try:
        with _blas().limit(limits=1):
            yield
    finally:
        _blas_capped.release()
