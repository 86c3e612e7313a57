"""The shared core under every model.

The fitting loop (base), the row-block engine (engine), statistics (stats),
the distributions' expectations, KLs and natural parameters, validation and
the array API dispatch. Nothing here imports a model.
"""
