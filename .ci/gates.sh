#!/usr/bin/env bash
# The code gates: lint (ruff check), format (ruff format --check), types (mypy on core, app, registration) and
# the layer contracts (import-linter; tests/test_architecture*.py check the rest). Configuration: pyproject.toml.
# usage: .ci/gates.sh [PYTHON]   (default: .venv/bin/python; needs the "dev" extra: ruff, mypy, import-linter)
# To fix what ruff can: PYTHON -m ruff check --fix . && PYTHON -m ruff format .
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-.venv/bin/python}"
BIN="$(dirname "$PYTHON")"
status=0

step() {  # step NAME COMMAND...: run, report, remember a failure, go on with the next gate
  local name="$1"; shift
  local started=$SECONDS
  if "$@"; then echo "gate ok:     $name ($((SECONDS - started)) s)"; else echo "gate FAILED: $name"; status=1; fi
}

step "ruff check" "$PYTHON" -m ruff check --no-cache .
step "ruff format --check" "$PYTHON" -m ruff format --no-cache --check .
packages=()
for folder in regviewer/core regviewer/app regviewer/registration; do
  [ -d "$folder" ] && packages+=("$folder")
done
step "mypy ${packages[*]}" "$PYTHON" -m mypy "${packages[@]}"
step "import-linter (layers)" "$BIN/lint-imports"
exit $status
