#!/usr/bin/env bash
# The one command that sets everything up and runs all the tests:
#   installs the package into .venv, installs Chromium for the browser test,
#   provisions Kafka / FerretDB / helm into the cache (~/.cache/shopsys), starts the cluster
#   tier's builds and then the cluster itself in the background (a first run's slowest part,
#   overlapped with the other tiers), runs ruff, mypy --strict and pytest: unit, chart,
#   integration against the real servers, the cluster tier, then the benchmarks (alone on the
#   machine by then). Every tier runs even when an earlier one failed; the exit status says.
# Extra arguments go to pytest instead, e.g. `tests/run.sh tests/unit -x` (no background builds).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SHOPSYS_VENV:-.venv}"
# The tests start hundreds of Python processes (servers, CLI commands): with bytecode caching
# off, each compiles every module it imports again, twice the start-up time of one.
unset PYTHONDONTWRITEBYTECODE
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
cluster_ours=""
finish() {
  if [ -n "${prebuild_pid}" ]; then kill -- "-${prebuild_pid}" 2>/dev/null || true; fi
  if [ -n "${cluster_ours}" ]; then "${venv}/bin/python" -m tests.cluster down || true; fi
}
if [ "$#" -eq 0 ]; then
  step "The cluster tier's Debian packages (before the background builds: apt runs one at a time)"
  "${venv}/bin/python" -m tests.cluster packages
  prebuild_log="${TMPDIR:-/tmp}/shopsys-prebuild.$$.log"
  up_flag=()
  if ! "${venv}/bin/python" -c 'import sys; from tests.cluster.kit.cluster import is_up, layout
sys.exit(0 if is_up(layout()) else 1)'; then
    up_flag=(--up)  # a cluster left running by tests/cluster/up is used as it is, and kept
    cluster_ours=1
  fi
  step "Cluster tier and collector builds, then the cluster, in the background (log: ${prebuild_log})"
  # Its own process group, so that an early exit stops the builds it started too; niced, so
  # that the tests running meanwhile get the CPU first and the builds take what they leave.
  setsid nice -n 19 "${venv}/bin/python" -m tests.prebuild "${up_flag[@]}" >"${prebuild_log}" 2>&1 &
  prebuild_pid=$!
  trap finish EXIT
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
  status=0
  "${venv}/bin/pytest" tests/unit tests/chart tests/integration || status=$?
  step "waiting for the background builds and the cluster"
  if ! wait "${prebuild_pid}"; then
    echo "the background builds or the cluster failed (the cluster tier says why):" >&2
    tail -n 20 "${prebuild_log}" >&2
  fi
  prebuild_pid=""
  # The cluster was started niced, like the builds: every thread started since (the
  # cluster's daemons and pods; not kernel threads, children of pid 2) gets the normal
  # priority back before the tier that measures it.
  ps -eLo tid=,ni=,etimes=,ppid= \
    | awk -v since="$((SECONDS - started))" '$2 == 19 && $3 <= since && $4 != 2 { print $1 }' \
    | xargs -r renice -n 0 -p >/dev/null 2>&1 || true
  step "pytest: the cluster tier"
  "${venv}/bin/pytest" tests/cluster || status=$?
  if [ -n "${cluster_ours}" ]; then
    step "stopping the cluster"
    cluster_ours=""
    "${venv}/bin/python" -m tests.cluster down || status=$?
  fi
  step "pytest: the benchmarks, alone on the machine"
  "${venv}/bin/pytest" tests/perf || status=$?
  rm -f "${prebuild_log}"
  [ "${status}" -eq 0 ] || exit "${status}"
else
  "${venv}/bin/pytest" "$@"
fi
step "all tests passed"
