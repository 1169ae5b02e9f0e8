"""``python -m helpers.data`` lists the assets; ``python -m helpers.data install`` installs the missing."""

import sys

from .assets import _main

raise SystemExit(_main(sys.argv[1:]))
