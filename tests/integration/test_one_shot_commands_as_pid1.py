"""`shopsys init` and `shopsys smoke` run as PID 1 in a Job and a helm test Pod. PID 1 gets no
default signal handling from the kernel, so an unhandled SIGTERM would be ignored and every
deletion would wait out the grace period. Run them as PID 1 of a new PID namespace for real."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from shopsys.devtools.ports import free_port
from tests.support.polling import eventually

SHOPSYS = Path(sys.executable).with_name("shopsys")


def _as_pid1(argv: list[str]) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("this test needs root and util-linux's unshare to make a PID namespace")
    parent = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", str(SHOPSYS), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def the_command() -> psutil.Process | None:
        """The child once it runs the command: before its exec it is a copy of unshare, which
        blocks SIGTERM itself for a moment (a SIGTERM then would be lost, not the command's)."""
        children = psutil.Process(parent.pid).children()
        argv = children[0].cmdline() if children else []
        started = argv and Path(argv[0]).name != "unshare" and "shopsys" in " ".join(argv)
        return children[0] if started else None

    def sigterm_blocked(pid: int) -> bool | None:
        """The command's own code runs once it blocks SIGTERM (for its waiting thread): a
        SIGTERM before that would reach a PID 1 without a handler and prove nothing. On a
        cold machine, imports that compile first take seconds."""
        status = Path(f"/proc/{pid}/status").read_text()
        blocked = next(line for line in status.splitlines() if line.startswith("SigBlk:"))
        return True if int(blocked.split()[1], 16) & (1 << (signal.SIGTERM - 1)) else None

    try:
        child = eventually(the_command, timeout=20, every=0.05, what="the command under unshare")
        eventually(
            lambda: sigterm_blocked(child.pid), timeout=30, every=0.05, what="its SIGTERM handling"
        )
    except AssertionError:
        parent.kill()
        raise
    return parent, child


@pytest.mark.parametrize(
    "argv",
    [
        ["smoke", "--web-url", "http://127.0.0.1:{port}", "--timeout", "120"],
        ["init", "--kafka-bootstrap-servers", "127.0.0.1:{port}", "--timeout", "120",
         "--mongodb-uri", "mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500"],
    ],
    ids=["smoke", "init"],
)  # fmt: skip
def test_sigterm_ends_the_command_at_once_as_pid_1(argv: list[str]) -> None:
    port = free_port()  # nothing listens: the command keeps retrying until its timeout
    parent, command = _as_pid1([arg.format(port=port) for arg in argv])
    try:
        started = time.monotonic()
        command.send_signal(signal.SIGTERM)
        parent.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    output = parent.stdout.read().decode() if parent.stdout else ""
    assert took < 5, output
    assert f"{argv[0]}: stopped by SIGTERM" in output
