"""Does a numpy call release the GIL? A Python thread counts its turns during the call.

``python benchmarks/device/gil_probe.py``: for each call, the spinning
thread's turns per millisecond while the call runs on the main thread, against
its rate while the main thread sleeps (the GIL free). A call that releases the
GIL for its whole run leaves the rate near the sleeping one.
"""

import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

rng = np.random.default_rng(0)
X = rng.normal(size=(4_000_000, 10))
ones = np.ones(len(X))
R = rng.normal(size=(len(X), 8))
A = rng.normal(size=(80, 10))
state = {"count": 0, "stop": False}


def spin():
    while not state["stop"]:
        state["count"] += 1


CALLS = {
    "sleep 50 ms (GIL free)": lambda: time.sleep(0.05),
    "ones @ X (matmul, vector-matrix)": lambda: ones @ X,
    "np.dot(ones, X)": lambda: np.dot(ones, X),
    "R.T @ X (matmul, matrix-matrix)": lambda: R.T @ X,
    "np.dot(R.T, X)": lambda: np.dot(R.T, X),
    # On 200,000 rows: held in short stretches, this one can take seconds.
    "A @ X[:200000].T (matmul)": lambda: A @ X[:200_000].T,
    "np.dot(A, X[:200000].T)": lambda: np.dot(A, X[:200_000].T),
    "np.einsum('ij,ij->j', X, X)": lambda: np.einsum("ij,ij->j", X, X),
}

with threadpool_limits(1):
    for name, call in CALLS.items():
        state.update(count=0, stop=False)
        thread = threading.Thread(target=spin)
        thread.start()
        time.sleep(0.01)
        start_count, start = state["count"], time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        turns = state["count"] - start_count
        state["stop"] = True
        thread.join()
        print(
            f"{name:34s} {1e3 * elapsed:8.1f} ms  {turns / elapsed / 1e3:8.0f} turns/ms"
        )
