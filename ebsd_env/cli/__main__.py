"""`python -m ebsd_env.cli ...`: the `ebsd` command without its installed script."""

import sys

from . import main

sys.exit(main())
