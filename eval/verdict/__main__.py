"""`python -m eval.verdict STEP ...`: the verdict's steps (see `eval.verdict`)."""

import sys

from . import main

sys.exit(main())
