"""Following pipelines for every waiter: the wait loop, the shared project poll, failure reports."""
