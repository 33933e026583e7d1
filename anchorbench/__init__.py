"""anchorbench: synthetic anchor-function and matching tasks for small language models.

Importing the package is cheap (no torch); registries load their entries on first use.
"""

__version__ = "0.1.0"
