"""`python -m apps ARGS` is `minigrad ARGS` (handy in a checkout that is not installed)."""

import sys

from apps.cli import main

sys.exit(main())
