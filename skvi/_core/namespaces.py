"""Where an array lives: its array API namespace and device, and transfers.

Array API input (PyTorch, CuPy, array-api-strict) under scikit-learn's
dispatch. With ``sklearn.config_context(array_api_dispatch=True)`` (which
scikit-learn allows only with the environment variable SCIPY_ARRAY_API=1 set
before scipy is imported), an estimator given an array of another array API
library computes in that library's namespace, on the array's device, and
keeps its fitted arrays there (scikit-learn's "Array API support" guide).
Without dispatch, or for numpy input, nothing here but
:func:`is_dask_collection` is used: numpy is the path.

:class:`ArraySpace` names a namespace and device (with its widest float and
whether it is an accelerator); :func:`array_space` reads it off X (None for
numpy); :func:`to_numpy` and :func:`to_namespace` move arrays between the
host and the device; :func:`check_same_space` refuses X that is not where the
fit's arrays are. The passes over rows in such a namespace live in
:mod:`skvi._core.array_api`; scikit-learn's private array API helpers are
reached through :mod:`skvi._core.parameters`.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn import get_config

from .parameters import _array_api_compat, _array_api_helper

# The dtypes X is read as (float32 stays float32; the sums are float64).
_DTYPES = [np.float64, np.float32]


def is_dask_collection(X):
    """Whether X is a dask collection, without importing dask."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "__dask_graph__")


def _is_accelerator(library, device):
    """Whether ``device`` is a GPU or another accelerator (not a CPU).

    CuPy's arrays are always on a GPU; array-api-strict's devices are CPU
    emulations; otherwise a device whose name does not say "cpu" (torch's
    "cuda:0", "mps", "xpu"; dpnp's "gpu").
    """
    if library == "array_api_strict":
        return False
    if library == "cupy":
        return True
    return "cpu" not in str(device).lower()


class ArraySpace:
    """Where an array lives: its array API namespace and device.

    Attributes
    ----------
    xp : module
        The namespace (array-api-compat's wrapper of the library).
    device : object
        The device (``X.device``).
    float_dtype : dtype
        The widest float the namespace has on that device (float64, or
        float32 on devices without it, e.g. Apple's MPS).
    accelerator : bool
        Whether the device is a GPU or another accelerator (not a CPU).
    """

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device
        self.float_dtype = _array_api_helper("_max_precision_float_dtype")(xp, device)
        self.accelerator = _is_accelerator(self.name, device)

    def compute_dtype(self, dtype):
        """The dtype the passes over rows of X of ``dtype`` compute in.

        float32 X stays float32 on an accelerator (a GPU's fast path, with
        the error docs/guide/gpu.md states); on a CPU device it is widened,
        block by block, to float64, as the numpy path does (same results).
        float64 is computed in float64 wherever the device has it.
        """
        if self.accelerator or self.float_dtype != self.xp.float64:
            return dtype
        return self.xp.float64

    @property
    def name(self):
        """The library's name, e.g. ``"torch"``."""
        return self.xp.__name__.replace("array_api_compat.", "")

    def __eq__(self, other):
        return (
            isinstance(other, ArraySpace)
            and self.xp == other.xp
            and self.device == other.device
        )

    def __hash__(self):
        return hash(self.xp.__name__)

    def __repr__(self):
        return f"ArraySpace({self.name}, device={self.device!r})"


def _is_other_array(X):
    """Whether X is an array of an array API library other than numpy and dask.

    array-api-compat's test (PyTorch's tensors, for one, have no
    ``__array_namespace__``); without array-api-compat, whether X has
    ``__array_namespace__``.
    """
    if isinstance(X, (np.ndarray, np.generic)) or is_dask_collection(X):
        return False
    compat = _array_api_compat()
    if compat is None:
        return hasattr(X, "__array_namespace__")
    return compat.is_array_api_obj(X)


def array_space(X):
    """The :class:`ArraySpace` of X if X is to be computed where it lives, else None.

    None (numpy, the path of every other input) unless scikit-learn's
    ``array_api_dispatch`` is on and X is an array of another array API
    library than numpy. A dask collection is never one (see
    :func:`check_data`).
    """
    if not get_config()["array_api_dispatch"] or not _is_other_array(X):
        return None
    xp, is_array_api, device = _array_api_helper("get_namespace_and_device")(X)
    if not is_array_api or _array_api_helper("_is_numpy_namespace")(xp):
        return None
    return ArraySpace(xp, device)


def float_dtypes(space):
    """The dtypes X is read as: numpy's, or those of ``space`` (float32 stays)."""
    if space is None:
        return _DTYPES
    xp = space.xp
    return [xp.float64, xp.float32] if space.float_dtype == xp.float64 else [xp.float32]


def to_numpy(array, space=None):
    """An array of any array API library as a numpy array on the host.

    ``space`` is the array's :class:`ArraySpace`; by default it is read off
    the array (array-api-compat's ``array_namespace``). numpy input and
    anything without ``__array_namespace__`` are returned unchanged.
    """
    if not _is_other_array(array):
        return array
    if space is None:
        compat = _array_api_compat()
        if compat is None:
            return np.asarray(array)
        xp = compat.array_namespace(array)
    else:
        xp = space.xp
    return _array_api_helper("_convert_to_numpy")(array, xp)


def to_namespace(array, space, dtype=None):
    """A numpy array (or scalar) as an array of ``space``, on its device.

    Floats become ``dtype`` (by default float64, or the widest float the
    device has); integers keep their dtype.
    """
    array = np.asarray(array)
    xp = space.xp
    if array.dtype.kind == "f":
        if dtype is None:
            dtype = space.float_dtype
        return xp.asarray(array, dtype=dtype, device=space.device)
    return xp.asarray(array, device=space.device)


def check_same_space(X, estimator, method, fitted_space):
    """Raise if X is not where the fitted attributes are (dispatch on only).

    ``fitted_space`` is the :class:`ArraySpace` of the fit, or None for numpy.
    The message is scikit-learn's (``check_same_namespace``).
    """
    if not get_config()["array_api_dispatch"] or is_dask_collection(X):
        return
    space = array_space(X)
    if space == fitted_space:
        return
    name = type(estimator).__name__

    def where(space):
        return "numpy" if space is None else f"{space.name} on device {space.device}"

    raise ValueError(
        f"Inputs passed to {name}.{method}() must use the same namespace and the "
        f"same device as those passed to fit(): the estimator was fitted on "
        f"{where(fitted_space)}, X is {where(space)}. Move X there first (e.g. "
        "torch.asarray(X, device=...)), or refit on X's namespace and device."
    )
