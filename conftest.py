"""pytest configuration at the root: doctests of optional-dependency modules."""

import importlib.util

# skvi/_dask.py imports dask (the optional extra skvi[dask]); without it the
# doctest collection of skvi/ would fail on import rather than skip.
collect_ignore = [] if importlib.util.find_spec("dask") else ["skvi/_dask.py"]
