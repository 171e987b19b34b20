"""Talking to the DataOps.live API: transport, retries, settings, paths, limits, API data rules."""
