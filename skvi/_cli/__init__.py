"""The ``skvi`` command-line program, built from parts.

``main`` parses the arguments and dispatches to one module per subcommand
(``fit``); the subcommands share the reading (``read``), reporting
(``report``) and plotting (``plot``) modules. Only ``main`` and ``common`` are
imported to parse arguments, so that ``--help`` and ``--version`` start
without scikit-learn, scipy or pandas; each subcommand imports what it needs
when it runs.
"""

# SPDX-License-Identifier: BSD-3-Clause

from .main import main

__all__ = ["main"]
