#!/usr/bin/env bash
# The one command that sets everything up and runs all the tests:
#   installs the package into .venv, installs Chromium for the browser test,
#   provisions Kafka / FerretDB / helm into the cache (~/.cache/shopsys), starts the cluster
#   tier's builds in the background (a first run's slowest part, overlapped with the other
#   tiers), runs ruff, mypy --strict and pytest: unit, chart, integration against the real
#   servers, the cluster tier, then the benchmarks (alone on the machine by then).
# Extra arguments go to pytest instead, e.g. `tests/run.sh tests/unit -x` (no background builds).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SHOPSYS_VENV:-.venv}"
started=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - started))" "$*"; }

step "Python environment in ${venv}"
if [ ! -x "${venv}/bin/python" ]; then
  python3 -m venv "${venv}"
fi
# --no-compile: Python compiles what it imports when it imports it; compiling every installed
# module up front took half of this step.
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile --upgrade pip
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'

step "Chromium for the storefront browser test"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); else apt_get=(sudo -n apt-get); fi
  "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq chromium >/dev/null
fi
chromium --version

prebuild_pid=""
if [ "$#" -eq 0 ]; then
  step "The cluster tier's Debian packages (before the background builds: apt runs one at a time)"
  "${venv}/bin/python" -m tests.cluster packages
  prebuild_log="${TMPDIR:-/tmp}/shopsys-prebuild.$$.log"
  step "Cluster tier and collector builds, in the background (log: ${prebuild_log})"
  # Its own process group, so that an early exit stops the builds it started too; niced, so
  # that the tests running meanwhile get the CPU first and the builds take what they leave.
  setsid nice -n 19 "${venv}/bin/python" -m tests.prebuild >"${prebuild_log}" 2>&1 &
  prebuild_pid=$!
  trap '[ -z "${prebuild_pid}" ] || kill -- "-${prebuild_pid}" 2>/dev/null || true' EXIT
fi

step "Kafka, FerretDB and helm (cached in \${SHOPSYS_CACHE_DIR:-~/.cache/shopsys})"
"${venv}/bin/shopsys" provision

step "ruff"
"${venv}/bin/ruff" check src tests
"${venv}/bin/ruff" format --check src tests

step "mypy --strict"
"${venv}/bin/mypy"

step "pytest"
if [ "$#" -eq 0 ]; then
  # The cluster tier waits for the background builds; the benchmarks come last, alone.
  "${venv}/bin/pytest" tests/unit tests/chart tests/integration tests/cluster tests/perf
  if ! wait "${prebuild_pid}"; then
    echo "the background builds failed (the cluster tier passed without them?):" >&2
    tail -n 20 "${prebuild_log}" >&2
    exit 1
  fi
  prebuild_pid=""
  rm -f "${prebuild_log}"
else
  "${venv}/bin/pytest" "$@"
fi
step "all tests passed"
