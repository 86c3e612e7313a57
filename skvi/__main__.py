"""Run the skvi command-line program: ``python -m skvi``."""

# SPDX-License-Identifier: BSD-3-Clause

import sys

# The guard keeps ``pytest --doctest-modules`` from running the program when it
# imports this module.
if __name__ == "__main__":
    try:
        from ._cli import main
    except KeyboardInterrupt:
        # Ctrl-C before the program's own handling starts: quiet, as after.
        sys.exit(130)
    sys.exit(main())
