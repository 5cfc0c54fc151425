"""`python -m tests.prebuild`: the slow builds of a first run, started by tests/run.sh beside
the tests that do not need them (the tracing tests' collector first, then everything the
cluster tier needs). The tests ask for the same cache entries and, while one is still being
built here, wait for it (the cache's file locks); on a warm machine this finds everything
built and ends at once."""

from __future__ import annotations

import sys

from shopsys.devtools.errors import ProvisionError
from shopsys.devtools.provision import default_cache_dir
from tests.cluster.cluster import provision
from tests.support.collector import ensure_otelcol


def _progress(message: str) -> None:
    print(f"[prebuild] {message}", file=sys.stderr, flush=True)


def main() -> int:
    try:
        ensure_otelcol(default_cache_dir(), _progress)
        provision(_progress)
    except ProvisionError as error:  # the tests that need it fail with the same error
        print(f"error: {error}", file=sys.stderr)
        return 1
    _progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
