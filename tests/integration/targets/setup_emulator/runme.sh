#!/usr/bin/env bash
# The setup target of every integration target (their aliases hold setup/once/setup_emulator): ansible-test runs
# this once per run, before the first target. It starts the emulator service (files/emulator_service.py, detached)
# that gives each target a fresh emulator (tasks/main.yml) and stops when ansible-test - this script's parent -
# exits, taking its emulator with it. The service's files live in tests/output/.tmp/zenlayer_emulator/.
set -eu
state_dir="$(cd "${OUTPUT_DIR}/.." && pwd)/zenlayer_emulator"
# ansible-test points ANSIBLE_COLLECTIONS_PATH at the tree that holds this collection: the emulator is there.
emulator_dir="${ANSIBLE_COLLECTIONS_PATH%%:*}/ansible_collections/zenlayer/cloud/tests/emulator"
python "${PWD}/files/emulator_service.py" serve --state-dir "${state_dir}" --emulator-dir "${emulator_dir}" \
  --owner-pid "${PPID}"
