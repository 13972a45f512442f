#!/usr/bin/env bash
# Smoke-test a frozen RegViewer (a bundle folder's executable, or the installed launcher): version, help, the
# command-line demo, the window (off-screen, --smoke-test), --info inside the bundle, torch (a network
# registration), an elastix and an ANTs registration and, with a Python beside it, the engine child. Same steps
# on Linux, Windows (Git Bash), macOS.
# usage: packaging/smoke_bundle.sh EXECUTABLE [SAMPLE_DATA_FOLDER]
set -euo pipefail
EXE="$1"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
SAMPLES="${2:-$HERE/regviewer/resources/sample_data}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"  # from another folder: nothing of the source tree may be needed
export QT_QPA_PLATFORM=offscreen

"$EXE" --version
"$EXE" --help >/dev/null && echo "help ok"
"$EXE" demo -o "$WORK/demo" | tail -2
test -s "$WORK/demo/metrics.json" && echo "demo ok: $(ls "$WORK/demo" | tr '\n' ' ')"
echo "window (the 'real' time is launch to painted and closed):"
time "$EXE" --smoke-test
"$EXE" --info > "$WORK/info.txt"
grep -E "^(regviewer|qt platform plugin|qt xcb system libraries|torch|SimpleITK \(installed\)):" "$WORK/info.txt"
grep -q "frozen bundle" "$WORK/info.txt" && grep -q "^qt platform plugin: *offscreen" "$WORK/info.txt" \
  && grep -q "^torch: *2" "$WORK/info.txt" && echo "info ok"
"$EXE" register "$SAMPLES/brain2d/r16slice.jpg" "$SAMPLES/brain2d/r64slice.jpg" --method affine,network \
  --param model=brain2d -o "$WORK/network" | tail -2
test -s "$WORK/network/metrics.json" && echo "network (torch) registration ok"
# The [elastix] and [ants] extras: one registration each on the demo pair (itk / antspyx in the bundle, run in
# the engine's child process). SMOKE_ENGINES=0 skips them for a bundle built without the extras.
if [ "${SMOKE_ENGINES:-1}" != 0 ]; then
  for method in elastix-affine ants-affine; do
    "$EXE" register "$SAMPLES/brain2d/r16slice.jpg" "$SAMPLES/brain2d/r64slice.jpg" --method "$method" \
      -o "$WORK/$method" | tail -2
    grep -q '"status": "completed"' "$WORK/$method/metrics.json" && echo "$method registration ok"
  done
fi
if [ -n "${PYTHON:-}" ]; then
  "$PYTHON" "$HERE/packaging/check_engine_child.py" "$EXE"
fi
echo "bundle smoke test passed"
