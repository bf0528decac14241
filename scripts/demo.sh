#!/usr/bin/env bash
# The demo (`make demo`): image a running instance with the role zenlayer.cloud.image_from_instance against the
# local emulator, twice, and show that the second run changes nothing and never stops the instance.
#
# Needs python3 (3.11+, for ansible-core 2.19) and access to PyPI the first time: it builds its own venv in .venvs/demo (ansible-core 2.19
# and requests) and reuses it afterwards. Exits non-zero when anything is off.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DEMO_VENV:-$REPO/.venvs/demo}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=("ansible-core~=2.19.0" "requests>=2.25")

started="$(date +%s.%N)"
want="$(printf '%s\n' "${REQUIREMENTS[@]}" "$("$PYTHON" -c 'import sys; print(sys.version)')")"
if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.demo-stamp" ] && [ "$(cat "$VENV/.demo-stamp")" = "$want" ]; then
  echo "demo: reusing the venv $VENV"
else
  echo "demo: creating the venv $VENV (ansible-core ~=2.19.0, requests) the first time (8 s here with pip's cache warm; downloads add to that)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  # pip's output goes to a log, shown only when the install fails (it can be noisy about local package mirrors)
  log="$(dirname "$VENV")/demo-pip.log"
  if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --upgrade pip &&
         "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "${REQUIREMENTS[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "demo: installing ${REQUIREMENTS[*]} failed (log above, kept in $log)" >&2
    exit 1
  fi
  printf '%s' "$want" >"$VENV/.demo-stamp"
fi

ready="$(date +%s.%N)"
status=0
"$VENV/bin/python" "$REPO/scripts/demo.py" "$@" || status=$?
awk -v s="$started" -v r="$ready" -v e="$(date +%s.%N)" \
  'BEGIN { printf "demo: %.1f s in all (the venv %.1f s, the emulator and the two runs %.1f s)\n", e - s, r - s, e - r }'
exit "$status"
