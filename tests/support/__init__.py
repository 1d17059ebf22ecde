"""Helpers shared by the test tiers: starting clusters (`processes`), the catalog backends
(`postgres`, `catalog`), boto3 clients (`clients`), raw signed requests (`signing`), looking
behind the S3 API (`data`), polling (`waiting`), real chunk daemons (`chunk_daemons`), an
in-process gateway (`inprocess`) and the fixtures every tier shares (`fixtures`).

`tests/` is on sys.path (`pythonpath = tests` in setup.cfg): import them as `support.x`.
"""
