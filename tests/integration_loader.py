"""The integration tier's conftest (cluster start-up, boto3 clients, raw signed requests) as a
module of its own, for the other tiers (faults, security, clients).

It is loaded under its own module name so that it never clashes with pytest's `conftest`
modules. `tests/` is on sys.path through `pythonpath = tests` in setup.cfg.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

INTEGRATION_CONFTEST = Path(__file__).resolve().parent / "integration" / "conftest.py"
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
