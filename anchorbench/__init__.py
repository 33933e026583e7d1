"""anchorbench: synthetic anchor-function and matching tasks for small language models.

Importing the package is cheap (no torch); registries load their entries on first use.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Run", "load", "run"]


def __getattr__(name: str) -> Any:
    # anchorbench.run / load / Run (anchorbench/api.py), imported on first use: the package stays cheap
    if name in __all__:
        from anchorbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'anchorbench' has no attribute {name!r}")
