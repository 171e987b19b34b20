"""Former home of the emulator's pytest fixtures, kept so ``pytest_plugins`` lists naming it still work.

The fixtures now live in :mod:`airflow_provider_dataops.testing.pytest_plugin`, which pytest loads
by itself; listing this module loads that one (once) when autoloading is off.
"""

pytest_plugins = ["airflow_provider_dataops.testing.pytest_plugin"]
