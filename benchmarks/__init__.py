"""Benchmarks of the DataOps.live provider against its embedded emulator.

Run them with ``python -m benchmarks`` (all) or ``python -m benchmarks pagination|deferral|retries``;
``python -m benchmarks --help`` lists the size flags. Nothing in this package imports Airflow at
import time: ``benchmarks.__main__`` first points ``AIRFLOW_HOME`` at a throw-away folder.
"""
