"""The version of skvi."""

__version__ = "0.2.0"
