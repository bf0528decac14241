#!/usr/bin/env bash
# Many inventory hosts (files/inventory.ini: one per instance, connection local) with --forks: a play that a role
# target (hosts: testhost) cannot be, so this target runs its role from runme.yml. ansible-test gives scripts neither
# integration_config.yml nor output_dir: pass both.
set -eux
ANSIBLE_ROLES_PATH=.. ansible-playbook runme.yml -i files/inventory.ini --forks 6 \
  -e @../../integration_config.yml -e "output_dir=${OUTPUT_DIR}" "$@"
