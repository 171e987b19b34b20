#!/usr/bin/env bash
# The command-line route: the emulator as a server, Airflow's own CLI, your dags/ folder.
# (Run by tests/emulator/test_docs_examples.py from a folder holding a copy of the example dags/.)
set -euo pipefail
# [START emulator_cli_route]
# Serve the emulator in the background; --pipeline-seconds 0 settles pipelines at once.
dataops-emulator --port 0 --pipeline-seconds 0 --env-file emulator.env &
EMULATOR=$!
trap 'kill $EMULATOR' EXIT
while [ ! -s emulator.env ]; do sleep 0.2; done  # written once the server listens

# Export AIRFLOW_CONN_DATAOPS_DEFAULT (and DATAOPS_EMULATOR_URL, ...) into this shell.
set -a; . ./emulator.env; set +a

# An Airflow of its own: home, SQLite metadata DB, your DAGs, no example DAGs.
export AIRFLOW_HOME="$PWD/airflow-home"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
airflow db migrate
airflow dags test nightly_build
# [END emulator_cli_route]
