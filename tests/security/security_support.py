"""The integration tier's conftest (cluster start-up, boto3 clients, raw signed requests)
for this tier, loaded by `integration_loader`.

Test modules here do ``from security_support import it`` and use ``it.raw_request`` etc.
"""

from __future__ import annotations

from integration_loader import load_integration

it = load_integration()
