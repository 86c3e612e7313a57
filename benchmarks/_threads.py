"""Thread sweeps for the benchmarks: skvi against a plain thread split, and Amdahl.

Shared by ``bench_normal.py`` and ``bench_mixture.py`` (``--threads 1 2 4 all``):

- :func:`sweep` times a function under ``threadpoolctl.threadpool_limits(t)``
  for each thread count ``t`` (skvi's row-block engine follows that limit),
  and, beside it in the same run, the *plain split*: the same pass written the
  obvious way, a :class:`~concurrent.futures.ThreadPoolExecutor` of ``t``
  workers over fixed row blocks, each block's numpy calls and nothing else.
  The plain split is what the hardware gives a Python program on these cores:
  skvi's targets are relative to it.
- :func:`gil_share` measures the serial share ``s`` of a pass run on one
  thread: the share of its time during which another Python thread cannot
  run (a spinning thread counts its turns against a spin rate measured
  alone). A pass whose blocks hold the GIL for a share ``s`` of their time
  speeds up at most ``1 / (s + (1 - s) / P)`` on ``P`` threads (Amdahl), which
  predicts the many-core speed-up from a machine with few cores.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import threadpool_limits


def thread_counts(values):
    """``["1", "2", "all"]`` as ints, ``all`` being every core."""
    cores = os.cpu_count() or 1
    counts = []
    for value in values:
        count = cores if value == "all" else int(value)
        if count not in counts:
            counts.append(count)
    return counts


def median_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_split(block_function, n_samples, block_rows, n_threads):
    """``block_function(start, stop)`` over fixed row blocks, ``n_threads`` threads."""
    starts = range(0, n_samples, block_rows)
    with threadpool_limits(1, user_api="blas"):
        if n_threads == 1:
            return [block_function(s, min(s + block_rows, n_samples)) for s in starts]
        with ThreadPoolExecutor(n_threads) as pool:
            return list(
                pool.map(
                    lambda s: block_function(s, min(s + block_rows, n_samples)),
                    starts,
                )
            )


def gil_share(function, seconds=0.3):
    """The share of ``function()``'s time during which no other thread can run.

    A thread spins (``count += 1``) alone for ``seconds`` to measure its rate,
    then while ``function()`` runs on one thread; the turns it missed are the
    time the GIL was held (or being handed over) by ``function``. Run under
    ``threadpool_limits(1)``, so that the pass itself uses one thread.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        state = {"count": 0, "stop": False}

        def spin():
            while not state["stop"]:
                state["count"] += 1

        spinner = threading.Thread(target=spin)
        spinner.start()
        time.sleep(0.05)
        base_count, start = state["count"], time.perf_counter()
        time.sleep(seconds)
        rate = (state["count"] - base_count) / (time.perf_counter() - start)
        with threadpool_limits(1):
            function()  # warm
            base_count, start = state["count"], time.perf_counter()
            function()
            elapsed = time.perf_counter() - start
            turns = state["count"] - base_count
        state["stop"] = True
        spinner.join()
    finally:
        sys.setswitchinterval(interval)
    return min(1.0, max(0.0, 1.0 - turns / (rate * elapsed)))


TINY_ROWS = 64


def _counting_blocks(timer, X):
    """``timer(X)``, and the number of row blocks its passes cut."""
    from skvi._core import engine

    counted = []
    slices = engine.block_slices

    def counting(n_samples, block_rows):
        result = slices(n_samples, block_rows)
        counted.append(len(result))
        return result

    engine.block_slices = counting
    try:
        seconds = timer(X)
    finally:
        engine.block_slices = slices
    return seconds, sum(counted)


def python_share(timer, X, width, min_rows=1):
    """The Python (per-block, GIL-held) share of a pass, from its own blocks.

    ``timer(X) -> seconds`` times the pass on one thread. The same pass on
    blocks of about :data:`TINY_ROWS` rows does the same Python per block
    with next to no numpy work in it: its time per block, times the real
    pass's number of blocks, over the real pass's time is the share of the
    pass that holds the GIL (numpy's own calls release it, for ``numpy.dot``
    and ufunc loops). Blocks are counted as the engine cuts them (the
    Normal's are whole rows of its shift); a model that needs at least
    ``min_rows`` rows (a mixture's K) runs on at least that many.
    """
    from skvi._core import engine

    with threadpool_limits(1):
        timer(X)
        real, n_blocks = min(_counting_blocks(timer, X) for _ in range(3))
        saved = (
            engine.BLOCK_ELEMENTS,
            engine.MIN_BLOCK_ROWS,
            engine.ELEMENTS_PER_OPERATION,
        )
        engine.BLOCK_ELEMENTS = TINY_ROWS * int(width)
        engine.MIN_BLOCK_ROWS = TINY_ROWS
        engine.ELEMENTS_PER_OPERATION = 1
        try:
            tiny = X[: max(TINY_ROWS * n_blocks, min_rows)]
            timer(tiny)
            python, tiny_blocks = min(_counting_blocks(timer, tiny) for _ in range(5))
        finally:
            (
                engine.BLOCK_ELEMENTS,
                engine.MIN_BLOCK_ROWS,
                engine.ELEMENTS_PER_OPERATION,
            ) = saved
    return min(1.0, python * n_blocks / max(tiny_blocks, 1) / real), n_blocks


def amdahl(share, n_threads):
    """Amdahl's bound on the speed-up of a pass with serial share ``share``."""
    return 1.0 / (share + (1.0 - share) / n_threads)


def sweep(name, skvi_function, split_function, counts, repeats, unit=None):
    """Print the sweep table of ``skvi_function`` against ``split_function``.

    ``split_function(n_threads)`` runs the plain split; ``unit`` (seconds),
    if given, adds a "× unit" column (the one-thread floor).

    Returns
    -------
    rows : list of dict
        Per thread count: skvi's and the split's times and speed-ups.
    """
    rows = []
    for count in counts:
        with threadpool_limits(count):
            skvi_function()  # warm: the pool, caches
            skvi_time = median_time(skvi_function, repeats)
        split_function(count)
        split_time = median_time(lambda c=count: split_function(c), repeats)
        rows.append({"threads": count, "skvi": skvi_time, "split": split_time})
    base_skvi, base_split = rows[0]["skvi"], rows[0]["split"]
    header = (
        f"| {name} threads | skvi ms | skvi speed-up | split ms | split speed-up "
        f"| skvi / split speed-up |" + (" skvi × floor |" if unit else "")
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for row in rows:
        row["skvi_speedup"] = base_skvi / row["skvi"]
        row["split_speedup"] = base_split / row["split"]
        print(
            f"| {row['threads']} | {1e3 * row['skvi']:.1f} | {row['skvi_speedup']:.2f} "
            f"| {1e3 * row['split']:.1f} | {row['split_speedup']:.2f} "
            f"| {row['skvi_speedup'] / row['split_speedup']:.2f} |"
            + (f" {row['skvi'] / unit:.3f} |" if unit else ""),
            flush=True,
        )
    return rows


def report_share(name, function, counts, timer=None, X=None, width=None, min_rows=1):
    """Print the measured serial shares and their Amdahl predictions.

    Two measures: the Python of the pass's own blocks (:func:`python_share`,
    when ``timer``, ``X`` and ``width`` are given) and the time another
    thread is kept from running (:func:`gil_share`), which also counts GIL
    hand-overs and numpy calls that hold the GIL.
    """
    shares = {}
    if timer is not None:
        shares["Python per block"], n_blocks = python_share(timer, X, width, min_rows)
    shares["spinning thread"] = gil_share(function)
    for label, share in shares.items():
        predictions = ", ".join(
            f"{count}: {amdahl(share, count):.1f}x" for count in sorted({*counts, 16})
        )
        print(
            f"{name}: serial share ({label}) {100 * share:.1f}%; "
            f"Amdahl predicts {predictions}",
            flush=True,
        )
    return shares
