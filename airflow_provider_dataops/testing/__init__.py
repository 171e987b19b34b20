"""The DataOps.live test kit: run your own DAGs against the local emulator from pytest.

pytest loads :mod:`airflow_provider_dataops.testing.pytest_plugin` by itself (entry point
``pytest11``). Nothing here imports Airflow or the emulator until a test asks for them.
"""
