"""`python -m tests.cluster up|down|packages|provision`: what tests/cluster/up and
tests/cluster/down run; the Debian packages the cluster needs, and everything it builds (which
tests/run.sh installs first and then starts in the background, beside the other tiers)."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from shopsys.devtools.errors import ProvisionError

from .kit.cluster import down, ensure_debian_packages, provision, up


def _progress(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")  # so that a stopped `up` tears down what it started


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["down"], ["packages"], ["provision"]):
        print("usage: python -m tests.cluster up|down|packages|provision", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if argv == ["up"]:
            for line in up(_progress).lines():
                print(line, flush=True)
        elif argv == ["packages"]:
            ensure_debian_packages(_progress)
        elif argv == ["provision"]:
            provision(_progress)
            _progress("everything the cluster needs is in the cache")
        else:
            down()
            _progress("everything the cluster started is stopped and removed")
    except ProvisionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
