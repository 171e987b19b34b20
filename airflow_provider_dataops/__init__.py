"""Apache Airflow provider for DataOps.live.

Kept import-light on purpose: Airflow imports this package during provider discovery.
"""

__version__ = "0.2.3"

__all__ = ["__version__"]
