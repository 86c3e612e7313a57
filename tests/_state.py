"""Snapshots of an estimator's whole state, compared bit for bit."""

import copy

import numpy as np


def snapshot(estimator):
    """A deep copy of ``vars(estimator)``: later in-place changes cannot reach it."""
    return copy.deepcopy(vars(estimator))


def _same(left, right):
    # Containers (a tuple of arrays, a dict of a model's arrays) element by
    # element, so that an array in them is compared by its bits like any other.
    if isinstance(left, tuple | list) and type(left) is type(right):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _same(left[key], right[key]) for key in left
        )
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        left, right = np.asarray(left), np.asarray(right)
        if left.dtype != right.dtype or left.shape != right.shape:
            return False
        if left.dtype == object:
            return left.tolist() == right.tolist()
        return left.tobytes() == right.tobytes()
    # repr tells 0.0 from -0.0 and lets nan equal nan; type tells 1 from 1.0.
    return type(left) is type(right) and repr(left) == repr(right)


def assert_same_state(state, expected, *, ignore=()):
    """Every attribute present in both, with the same type, dtype and bits."""
    state = {k: v for k, v in state.items() if k not in ignore}
    expected = {k: v for k, v in expected.items() if k not in ignore}
    assert state.keys() == expected.keys(), (
        f"attributes added: {sorted(state.keys() - expected.keys())}, "
        f"lost: {sorted(expected.keys() - state.keys())}"
    )
    changed = [name for name in expected if not _same(state[name], expected[name])]
    assert not changed, f"attributes changed: {changed}"
