"""`python -m tests.prebuild [--up]`: the slow part of a run, started by tests/run.sh beside
the tests that do not need it: the tracing tests' collector first, then everything the
cluster tier needs, and with ``--up`` the cluster itself (node, add-ons, ./setup-env.sh), so
that the cluster tier finds it running. The tests ask for the same cache entries and, while
one is still being built here, wait for it (the cache's file locks); tests/run.sh waits for
this process before the cluster tier and stops the cluster at the end."""

from __future__ import annotations

import sys

from shopsys.devtools.errors import ProvisionError
from shopsys.devtools.provision import default_cache_dir
from tests.cluster.kit.cluster import is_up, layout, provision, up
from tests.support.collector import ensure_otelcol


def _progress(message: str) -> None:
    print(f"[prebuild] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if argv not in ([], ["--up"]):
        print("usage: python -m tests.prebuild [--up]", file=sys.stderr)
        return 2
    try:
        ensure_otelcol(default_cache_dir(), _progress)
        provision(_progress)
        if argv == ["--up"] and not is_up(layout()):
            up(_progress)
    except ProvisionError as error:  # the tests that need it fail with the same error
        print(f"error: {error}", file=sys.stderr)
        return 1
    _progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
