#!/usr/bin/env bash
# The one command that sets everything up and runs all the tests:
#   installs the package into .venv, installs Chromium for the browser test,
#   provisions Kafka / FerretDB / helm into the cache (~/.cache/shopsys), runs ruff, mypy
#   --strict and pytest (unit, integration against the real servers, chart, perf).
# Extra arguments go to pytest, e.g. `tests/run.sh tests/unit -x`.
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

step "Kafka, FerretDB and helm (cached in \${SHOPSYS_CACHE_DIR:-~/.cache/shopsys})"
"${venv}/bin/shopsys" provision

step "ruff"
"${venv}/bin/ruff" check src tests
"${venv}/bin/ruff" format --check src tests

step "mypy --strict"
"${venv}/bin/mypy"

step "pytest"
"${venv}/bin/pytest" "$@"
step "all tests passed"
