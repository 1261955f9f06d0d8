"""`python -m eval.run ...`: `ebsd eval` without the `ebsd` command."""

from . import main

raise SystemExit(main())
