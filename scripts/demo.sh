#!/usr/bin/env bash
# The main job: installs what is missing, starts the local stack, migrates ClickHouse, creates the Kafka
# topics, then runs every stage of the platform that has landed so far (see README).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t0=$SECONDS
bash scripts/setup.sh
step "local stack"
bash deploy/local/up
step "ClickHouse migrations"
mmctr migrate
step "Kafka topics"
mmctr topics
step "done in $((SECONDS - t0))s"
bash deploy/local/status
