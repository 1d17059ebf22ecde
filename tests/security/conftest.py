"""Fixtures for the security tier: the integration tier's session cluster, boto3 client and
bucket fixtures, re-exported (see `security_support` for how the helpers are loaded)."""

from __future__ import annotations

from security_support import it

# Integration test modules do `from conftest import ...`, which reads whichever `conftest`
# module pytest imported last; when one run collects both tiers, that can be this file. So it
# offers every name of the integration conftest too (as tests/clients/conftest.py does).
globals().update({name: value for name, value in vars(it).items() if not name.startswith("__")})

cluster = it.cluster
s3 = it.s3
bucket = it.bucket
