"""`python -m eval.docs [--check]`: the docs' figures rewritten (or checked) from the committed result files."""

import sys

from . import main

sys.exit(main())
