"""`python -m tests.cluster up|down`: what tests/cluster/up and tests/cluster/down run."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from shopsys.devtools.errors import ProvisionError

from .cluster import down, up


def _progress(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")  # so that a stopped `up` tears down what it started


def main(argv: list[str]) -> int:
    if argv not in (["up"], ["down"]):
        print("usage: python -m tests.cluster up|down", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if argv == ["up"]:
            for line in up(_progress).lines():
                print(line, flush=True)
        else:
            down()
            _progress("everything the cluster started is stopped and removed")
    except ProvisionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
