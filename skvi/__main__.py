"""Run the skvi command-line program: ``python -m skvi``."""

# SPDX-License-Identifier: BSD-3-Clause

import sys

from ._cli import main

# The guard keeps ``pytest --doctest-modules`` from running the program when it
# imports this module.
if __name__ == "__main__":
    sys.exit(main())
