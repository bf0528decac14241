#!/usr/bin/env bash
# Create (or reuse) the test venvs under .venvs/ in the repository:
#
#   core-2.16  Python 3.11, ansible-core ~=2.16.0  + tests/requirements.txt
#   core-2.19  Python 3.11, ansible-core ~=2.19.0  + tests/requirements.txt
#   core-2.21  Python 3.12, ansible-core ~=2.21.0  + tests/requirements.txt   (skipped when no 3.12 exists)
#   tools      Python 3.11, tests/requirements-tools.txt (ansible-lint, antsibull-changelog, antsibull-docs)
#
# Usage: scripts/venv.sh [NAME ...]      (default: all of them)
#        scripts/venv.sh --print-dir       print the directory the venvs are used from
#
# Idempotent: each venv holds a stamp file with a hash of what went into it (interpreter, requirement lists,
# this script); a venv whose stamp matches is reused without calling pip. Venvs are built in parallel.
# Prints one line per venv; exits non-zero when a venv could not be built. The list of venvs that exist
# afterwards is written to .venvs/available (one name a line), which scripts/test.sh reads.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${VENVS_DIR:-$REPO/.venvs}"
mkdir -p "$VENVS"
# A venv whose path holds whitespace breaks: console-script shebangs (ansible-test, ansible-playbook) and the
# module interpreter path Ansible puts in its shebang cannot hold a space. When the checkout path has one, the
# venvs still live in .venvs/ but are built and used through a space-free symlink in the temp dir.
if [[ "$VENVS" =~ [[:space:]] ]]; then
  link="${TMPDIR:-/tmp}/zenlayer-cloud-venvs-$(printf '%s' "$VENVS" | sha256sum | cut -c1-12)"
  if [[ "$link" =~ [[:space:]] ]]; then link="/tmp/zenlayer-cloud-venvs-${link##*-}"; fi
  ln -sfn "$VENVS" "$link"
  VENVS="$link"
fi
if [ "${1:-}" = "--print-dir" ]; then echo "$VENVS"; exit 0; fi

# one venv.sh at a time per .venvs/ (two `make test` in one checkout must not rebuild a venv under each other)
if command -v flock >/dev/null 2>&1 && [ -z "${ZC_VENV_LOCKED:-}" ]; then
  exec 9>"$VENVS/.lock"
  flock 9
  export ZC_VENV_LOCKED=1
fi

ALL=(core-2.16 core-2.19 core-2.21 tools)
if [ "$#" -gt 0 ]; then WANT=("$@"); else WANT=("${ALL[@]}"); fi

# pyenv_roots -> candidate pyenv roots, one a line: $PYENV_ROOT, `pyenv root`, ~/.pyenv, and the root the
# default python3 lives in (/root/.pyenv/versions/3.11.7 -> /root/.pyenv)
pyenv_roots() {
  local base
  [ -n "${PYENV_ROOT:-}" ] && echo "$PYENV_ROOT"
  if command -v pyenv >/dev/null 2>&1; then pyenv root 2>/dev/null || true; fi
  echo "$HOME/.pyenv"
  base="$(python3 -c 'import sys; print(sys.base_prefix)' 2>/dev/null || true)"
  case "$base" in */versions/*) echo "${base%/versions/*}" ;; esac
}

# find_python 3.12 -> path of a working interpreter of that minor version, or nothing
find_python() {
  local want="$1" cand root d
  local -a cands=()
  while IFS= read -r root; do
    [ -d "$root/versions" ] || continue
    # newest patch release first
    while IFS= read -r d; do cands+=("$d/bin/python$want"); done \
      < <(for d in "$root/versions/$want".*; do [ -d "$d" ] && echo "$d"; done | sort -t. -k3,3nr)
  done < <(pyenv_roots)
  cands+=("$(command -v "python$want" 2>/dev/null || true)" "$(command -v python3 2>/dev/null || true)")
  for cand in "${cands[@]}"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    if [ "$("$cand" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

# spec NAME -> sets PYVER (the Python minor version) and PIPARGS (pip install arguments) for venv NAME
spec() {
  case "$1" in
    core-2.16) PYVER=3.11; PIPARGS=("ansible-core~=2.16.0" -r "$REPO/tests/requirements.txt") ;;
    core-2.19) PYVER=3.11; PIPARGS=("ansible-core~=2.19.0" -r "$REPO/tests/requirements.txt") ;;
    core-2.21) PYVER=3.12; PIPARGS=("ansible-core~=2.21.0" -r "$REPO/tests/requirements.txt") ;;
    tools) PYVER=3.11; PIPARGS=(-r "$REPO/tests/requirements-tools.txt") ;;
    *) return 1 ;;
  esac
}

build() {  # build NAME PYTHON PIPARGS... ; output goes to $VENVS/NAME.log
  local name="$1" py="$2"; shift 2
  local dir="$VENVS/$name" stamp="$VENVS/$name/.stamp" hash
  hash="$({
    "$py" -c 'import sys; print(sys.version)'
    # the pip arguments name files under $REPO: hash them without it, so the same inputs from another checkout
    # (a worktree, a fresh clone) reuse the venv instead of rebuilding it
    echo "${*//$REPO/}"
    cat "$REPO/tests/requirements.txt" "$REPO/tests/requirements-tools.txt" "$REPO/requirements.txt" \
      "${BASH_SOURCE[0]}" 2>/dev/null
  } | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && [ -x "$dir/bin/python" ]; then
    echo "venv $name: up to date ($("$dir/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'), $(cat "$dir/.core" 2>/dev/null))"
    return 0
  fi
  rm -rf "$dir"   # also drops a stale stamp, so a half-built venv is never taken for a good one
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q --upgrade pip wheel
  "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q "$@"
  "$dir/bin/python" -c 'import ansible; print("ansible-core", ansible.__version__)' >"$dir/.core" 2>/dev/null || true
  echo "$hash" >"$stamp"
  echo "venv $name: built ($("$dir/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'), $(cat "$dir/.core"))"
}

declare -A PIDS=()
declare -A SKIPPED=()
for name in "${WANT[@]}"; do
  spec "$name" || { echo "venv $name: unknown venv (known: ${ALL[*]})" >&2; exit 2; }
  if ! py="$(find_python "$PYVER")"; then
    echo "venv $name: SKIPPED - no Python $PYVER interpreter found (looked in \$(pyenv root)/versions/$PYVER.*, python$PYVER, python3)"
    SKIPPED[$name]=1
    rm -rf "${VENVS:?}/$name"
    continue
  fi
  build "$name" "$py" "${PIPARGS[@]}" >"$VENVS/$name.log" 2>&1 &
  PIDS[$name]=$!
done

rc=0
for name in "${WANT[@]}"; do
  [ -n "${SKIPPED[$name]:-}" ] && continue
  if wait "${PIDS[$name]}"; then
    tail -n 1 "$VENVS/$name.log"
  else
    echo "venv $name: FAILED to build; log follows" >&2
    sed 's/^/  | /' "$VENVS/$name.log" >&2
    rc=1
  fi
done
: >"$VENVS/available.tmp"
for name in "${ALL[@]}"; do
  if [ -f "$VENVS/$name/.stamp" ] && [ -x "$VENVS/$name/bin/python" ]; then echo "$name" >>"$VENVS/available.tmp"; fi
done
mv "$VENVS/available.tmp" "$VENVS/available"
exit "$rc"
