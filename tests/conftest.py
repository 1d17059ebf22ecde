"""The fixtures every tier may use (the session cluster, boto3 clients, buckets) come from
one plugin, so that a run collecting several tiers starts the session cluster once."""

pytest_plugins = ["support.fixtures"]
