"""Behaviour shared by every skvi estimator: persistence stamps, safe refits."""

# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import warnings

from ._version import __version__
from .exceptions import InconsistentVersionWarning


class VersionedStateMixin:
    """Stamp pickles with the skvi version and warn when another version loads them.

    scikit-learn stamps only classes defined in ``sklearn.*`` modules, so
    skvi stamps its own, the same way: the state carries ``_skvi_version`` and
    loading it with another skvi version emits
    :class:`~skvi.exceptions.InconsistentVersionWarning`.
    """

    def __getstate__(self):
        state = super().__getstate__()
        return dict(state.items(), _skvi_version=__version__)

    def __setstate__(self, state):
        state = dict(state)
        saved_version = state.pop("_skvi_version", "unknown")
        if saved_version != __version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_skvi_version=__version__,
                    original_skvi_version=saved_version,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)


@contextlib.contextmanager
def restore_on_error(estimator):
    """Undo every attribute change an estimator makes if the block raises.

    A failed ``fit``, ``partial_fit`` or ``set_params``-then-``fit`` thus
    loses nothing that was fitted before it. Attributes are replaced, never
    mutated in place, by skvi's estimators, so a shallow copy suffices.
    """
    saved = estimator.__dict__.copy()
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise
