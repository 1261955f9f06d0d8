"""Benchmarks: `ebsd bench decoder` (`decoder`), `ebsd bench env` (`env`), and the scripts behind the docs' other
measured figures: the clock on public pair shapes (`clock`), the int4 copy alone as the lossy reference
(`lossy`) and Ray's recording and tuning (`ray_cluster`).
"""

from __future__ import annotations

import sys

USAGE = ("usage: ebsd bench decoder [options] | ebsd bench env [options]   (ebsd bench decoder --help, "
         "ebsd bench env --help for the options)")


def main(argv: list[str] | None = None) -> int:
    """`ebsd bench`: routes `decoder` and `env` to their modules (imported only when used)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in ("decoder", "env"):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "env":
        from . import env

        return env.main(argv[1:])
    from . import decoder

    return decoder.main(argv[1:])
