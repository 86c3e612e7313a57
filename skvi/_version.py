"""The version of skvi."""

__version__ = "0.1.0"
