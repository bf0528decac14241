#!/usr/bin/env bash
# Release checks, runnable standalone from any checkout:  bash scripts/check_release.sh [TOOLS_VENV]
#
#   1. collection tarball        ansible-galaxy collection build (into build/, gitignored by *.tar.gz)
#   2. execution environment     ansible-builder create into a temp dir (build context only: no container engine
#                                here), then the context is checked: Containerfile, requirements, the tarball, the
#                                galaxy stage replayed offline (install from _build/requirements.yml) and ansible-
#                                builder's introspection finding the collection's Python requirements
#   3. changelog                 antsibull-changelog lint
#   4. galaxy-importer           python -m galaxy_importer.main on the tarball, with scripts/galaxy-importer.cfg
#                                (no ansible-test, no container); an ERROR or WARNING line or a non-zero exit
#                                fails (CHECK_RELEASE_STRICT=0: warnings are only reported)
#
# TOOLS_VENV (the nox session `release` passes its own venv) provides ansible-galaxy and antsibull-changelog.
# galaxy-importer downgrades attrs and pins flake8, so it lives in its own venv, IMPORTER_VENV (default
# .venvs/importer), created here when missing (with uv when UV names it, as the nox session does: 5 CPU-s instead of
# pip's 12); it brings ansible-builder along, which is used unless TOOLS_VENV has its own. Exits non-zero when any
# check fails; every check runs and prints a header.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_VENV="$(cd "${1:-$REPO/.venvs/tools}" 2>/dev/null && pwd || echo "${1:-$REPO/.venvs/tools}")"
IMPORTER_VENV="${IMPORTER_VENV:-$REPO/.venvs/importer}"
IMPORTER_SPEC="${IMPORTER_SPEC:-galaxy-importer>=0.4.30,<0.5}"
export GALAXY_IMPORTER_CONFIG="${GALAXY_IMPORTER_CONFIG:-$REPO/scripts/galaxy-importer.cfg}"
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PIP_DISABLE_PIP_VERSION_CHECK=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/check-release.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
FAILED=()

header() { printf '\n===== %s =====\n' "$*"; }
fail() { echo "FAIL: $*"; FAILED+=("$1"); }

NAMESPACE="" NAME="" VERSION="" TARBALL=""
read_metadata() {  # from galaxy.yml, with the tools venv's PyYAML
  read -r NAMESPACE NAME VERSION < <("$TOOLS_VENV/bin/python" -c '
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
print(doc["namespace"], doc["name"], doc["version"])' "$REPO/galaxy.yml" 2>/dev/null)
  TARBALL="$REPO/build/${NAMESPACE}-${NAME}-${VERSION}.tar.gz"
}

ensure_importer_venv() {
  if [ -x "$IMPORTER_VENV/bin/python" ] && "$IMPORTER_VENV/bin/python" -c 'import galaxy_importer' 2>/dev/null; then
    return 0
  fi
  echo "creating $IMPORTER_VENV with $IMPORTER_SPEC"
  rm -rf "$IMPORTER_VENV"
  if [ -n "${UV:-}" ]; then
    if ! { "$UV" venv -q -p python3 "$IMPORTER_VENV" &&
      UV_COMPILE_BYTECODE=1 "$UV" pip install -q --python "$IMPORTER_VENV/bin/python" "$IMPORTER_SPEC"; } >"$WORK/importer-pip.log" 2>&1; then
      tail -n 20 "$WORK/importer-pip.log"
      return 1
    fi
    return 0
  fi
  if ! { python3 -m venv "$IMPORTER_VENV" &&
    "$IMPORTER_VENV/bin/python" -m pip install --no-input -q --upgrade pip >"$WORK/importer-pip.log" 2>&1 &&
    "$IMPORTER_VENV/bin/python" -m pip install --no-input -q "$IMPORTER_SPEC" >>"$WORK/importer-pip.log" 2>&1; }; then
    grep -v '^WARNING: Location' "$WORK/importer-pip.log" | tail -n 20
    return 1
  fi
}

check_tools() {
  header "tools"
  local ok=0
  for tool in ansible-galaxy antsibull-changelog; do
    if [ -x "$TOOLS_VENV/bin/$tool" ]; then echo "$tool: $TOOLS_VENV/bin/$tool"; else fail "tools" "$tool not in $TOOLS_VENV/bin (run it through nox -e release)"; ok=1; fi
  done
  if ensure_importer_venv; then
    echo "galaxy-importer: $("$IMPORTER_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))' 2>/dev/null) in $IMPORTER_VENV"
  else
    fail "tools" "could not create $IMPORTER_VENV"; ok=1
  fi
  BUILDER="$TOOLS_VENV/bin/ansible-builder"
  [ -x "$BUILDER" ] || BUILDER="$IMPORTER_VENV/bin/ansible-builder"
  if [ -x "$BUILDER" ]; then echo "ansible-builder: $("$BUILDER" --version) ($BUILDER)"; else fail "tools" "ansible-builder not found"; ok=1; fi
  read_metadata
  [ -n "$VERSION" ] || { fail "tools" "could not read namespace, name and version from galaxy.yml"; ok=1; }
  return $ok
}

check_build() {
  header "collection tarball: ansible-galaxy collection build"
  mkdir -p "$REPO/build"
  rm -f "$TARBALL"
  if (cd "$REPO" && "$TOOLS_VENV/bin/ansible-galaxy" collection build --force --output-path "$REPO/build" .) &&
    [ -s "$TARBALL" ]; then
    echo "built $TARBALL ($(tar -tzf "$TARBALL" | wc -l) entries)"
    local leaked
    leaked="$(tar -tzf "$TARBALL" | grep -E '(^|/)(\.venvs|\.git|tests/output|__pycache__|\.ansible)(/|$)|\.tar\.gz$' || true)"
    [ -z "$leaked" ] || fail "build" "tarball holds files that build_ignore should keep out: $(echo "$leaked" | head -5 | tr '\n' ' ')"
  else
    fail "build" "ansible-galaxy collection build failed"
  fi
}

check_execution_environment() {
  header "execution environment: ansible-builder create (build context only)"
  [ -s "$TARBALL" ] || { fail "ee" "no tarball to put in the context"; return; }
  grep -q "build/$(basename "$TARBALL")" "$REPO/execution-environment.yml" ||
    fail "ee" "execution-environment.yml does not name build/$(basename "$TARBALL") (galaxy.yml version $VERSION)"
  local ctx="$WORK/ee-context"
  if ! (cd "$REPO" && "$BUILDER" create -f execution-environment.yml -c "$ctx" -v 2); then
    fail "ee" "ansible-builder create failed"; return
  fi
  local f
  for f in "$ctx/_build/requirements.yml" "$ctx/_build/requirements.txt" "$ctx/_build/collections/$(basename "$TARBALL")"; do
    [ -s "$f" ] || fail "ee" "build context lacks ${f#"$ctx"/}"
  done
  if [ -s "$ctx/Containerfile" ] || [ -s "$ctx/Dockerfile" ]; then
    echo "context: $(cd "$ctx" && find . -type f | sort | tr '\n' ' ')"
  else
    fail "ee" "build context has no Containerfile/Dockerfile"
  fi
  # Replay the image's galaxy stage offline: install from the context's requirements.yml, then let ansible-builder's
  # own introspection read the installed collection's meta/execution-environment.yml.
  sed "s#/build/#$ctx/_build/#" "$ctx/_build/requirements.yml" >"$WORK/ee-requirements.yml"
  if ! ANSIBLE_COLLECTIONS_PATH="$WORK/ee-collections" "$TOOLS_VENV/bin/ansible-galaxy" collection install \
      -r "$WORK/ee-requirements.yml" -p "$WORK/ee-collections" >/dev/null; then
    fail "ee" "the collection does not install from the context's requirements.yml"; return
  fi
  local deps
  deps="$("$IMPORTER_VENV/bin/python" "$ctx/_build/scripts/introspect.py" introspect "$WORK/ee-collections")" ||
    { fail "ee" "ansible-builder introspect failed"; return; }
  echo "$deps"
  echo "$deps" | grep -q "requests.*from collection $NAMESPACE.$NAME" ||
    fail "ee" "introspection did not find the collection's Python requirements (meta/execution-environment.yml)"
}

check_changelog() {
  header "changelog: antsibull-changelog lint"
  (cd "$REPO" && "$TOOLS_VENV/bin/antsibull-changelog" lint) || fail "changelog" "antsibull-changelog lint found problems"
  local fragments
  fragments="$(find "$REPO/changelogs/fragments" -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | wc -l)"
  echo "$fragments fragment(s); lint done"
}

check_importer() {
  header "galaxy-importer: python -m galaxy_importer.main $(basename "$TARBALL")"
  [ -s "$TARBALL" ] || { fail "importer" "no tarball"; return; }
  echo "config: $GALAXY_IMPORTER_CONFIG"
  local log="$WORK/importer.log" rc
  # The importer runs ansible-doc and ansible-lint from its own venv: put that venv's bin first.
  (cd "$WORK" && PATH="$IMPORTER_VENV/bin:$PATH" "$IMPORTER_VENV/bin/python" -m galaxy_importer.main "$TARBALL") >"$log" 2>&1
  rc=$?
  cat "$log"
  [ "$rc" -eq 0 ] || fail "importer" "galaxy-importer exited $rc"
  if grep -E '^(ERROR|CRITICAL)[: ]|Traceback \(most recent call last\)' "$log" >/dev/null; then
    fail "importer" "galaxy-importer reported errors (lines starting ERROR above)"
  fi
  local warnings
  warnings="$(grep -c '^WARNING:' "$log" || true)"
  echo "galaxy-importer: exit $rc, $warnings warning(s)"
  if [ "${CHECK_RELEASE_STRICT:-1}" = "1" ] && [ "$warnings" -gt 0 ]; then
    fail "importer" "galaxy-importer warned (what Galaxy would show on the collection page; CHECK_RELEASE_STRICT=0 to only report)"
  fi
}

if check_tools; then
  check_build
  check_execution_environment
  check_changelog
  check_importer
fi

header "summary"
if [ "${#FAILED[@]}" -eq 0 ]; then
  echo "release checks: all passed (build, execution environment, changelog lint, galaxy-importer)"
  exit 0
fi
echo "release checks FAILED: ${FAILED[*]}"
exit 1
