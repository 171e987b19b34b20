"""Example tests against the emulator's pytest fixtures (copied next to the example conftest and run)."""

import contextlib
import json
import os

import requests


def test_failed_pipeline_is_reported(dataops_emulator):
    emu = dataops_emulator  # reset to the seeded state for this test
    response = requests.post(
        f"{emu.api_url}/projects/demo%2Fdataops-project/trigger/pipeline",
        data={
            "token": emu.trigger_token,
            "ref": "main",
            "variables[_PIPELINE_FILE_NAME]": "full-ci.yml",
            "variables[DATAOPS_EMULATOR_OUTCOME]": "failed",
        },
        timeout=10,
    )
    pipeline_id = response.json()["id"]

    emu.advance(10)  # manual clock: the pipeline settles without any sleeping

    headers = {"PRIVATE-TOKEN": emu.access_token}
    pipeline = requests.get(f"{emu.api_url}/projects/1/pipelines/{pipeline_id}", headers=headers, timeout=10)
    assert pipeline.json()["status"] == "failed"
    assert emu.pipelines()[0]["source"] == "trigger"


def test_lost_trigger_response_still_created_a_pipeline(dataops_emulator):
    emu = dataops_emulator
    emu.inject_fault("drop_after", method="POST", path=r"/trigger/pipeline$")
    with contextlib.suppress(requests.exceptions.ConnectionError):  # the response is lost ...
        requests.post(
            f"{emu.api_url}/projects/1/trigger/pipeline",
            data={"token": emu.trigger_token, "ref": "main"},
            timeout=10,
        )
    assert len(emu.pipelines()) == 1  # ... but the pipeline exists: a client must not blindly retry
    assert emu.requests()[-1]["status"] == "dropped"


def test_airflow_connection_points_at_the_emulator(dataops_connection_env):
    emu = dataops_connection_env
    connection = json.loads(os.environ["AIRFLOW_CONN_DATAOPS_DEFAULT"])
    assert connection == {
        "conn_type": "dataops",
        "host": emu.url,
        "password": emu.access_token,
        "extra": {"trigger_token": emu.trigger_token},
    }
    # Code that reads the default connection now talks to the emulator. To run a whole DAG,
    # use dataops_run_dag instead: it sets this up too.
