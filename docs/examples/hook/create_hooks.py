"""Creating hooks: the default connection, or another one with its own timeout and retry policy."""

from airflow_provider_dataops.api.retry import RetryPolicy
from airflow_provider_dataops.hooks.dataops import DataOpsHook

hook = DataOpsHook()  # the "dataops_default" connection
prod = DataOpsHook("dataops_prod", timeout=60, retry_policy=RetryPolicy(max_attempts=4))
same = DataOpsHook("dataops_prod", retry_policy={"max_attempts": 4})  # the policy as a dict
