"""The integration tier's conftest (cluster start-up, boto3 clients, raw signed requests),
loaded under a module name of its own so that it never clashes with pytest's `conftest`.

Test modules here do ``from security_support import it`` and use ``it.raw_request`` etc.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

INTEGRATION_CONFTEST = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
MODULE_NAME = "s3compat_integration_conftest"


def load_integration() -> ModuleType:
    """The integration conftest as module `s3compat_integration_conftest` (loaded once)."""
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, INTEGRATION_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


it = load_integration()
