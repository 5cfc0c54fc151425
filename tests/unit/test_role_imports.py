"""Each role imports only what it runs. The image starts a role through the console script
(`shopsys serve-web`): the CLI registers every command, so a command's own dependencies (the
load generator's httpx, and with it typer's rich and pygments: several MiB of RSS) must wait
until it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# The real path of the console script, up to the moment the role's app would be served.
PROBE = """
import json, os, sys
import shopsys.runners as runners

def report(*_args, **_kwargs):
    print(json.dumps(sorted(sys.modules)), flush=True)
    os._exit(0)

runners.serve = report
from shopsys.cli import app
app([sys.argv[1]], prog_name="shopsys")
"""
# httpx's package imports its own command line, and so rich and pygments, whenever they
# are installed; the web role talks to the management API with httpcore alone.
NOT_IN_A_ROLE = ("httpx", "rich", "pygments", "shopsys.loadgen.engine", "shopsys.loadgen.http")


@pytest.mark.parametrize(
    ("role", "absent"),
    [("serve-consumer", NOT_IN_A_ROLE), ("serve-web", (*NOT_IN_A_ROLE, "shopsys.devtools"))],
)
def test_a_role_started_from_the_console_script_imports_only_what_it_runs(
    role: str, absent: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPSYS_", "OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, role],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "starlette" in modules  # the probe got as far as the role's app
    assert sorted(modules & set(absent)) == []
