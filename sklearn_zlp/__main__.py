"""``python -m sklearn_zlp``: the ``sklearn-zlp`` command line (:mod:`sklearn_zlp.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
