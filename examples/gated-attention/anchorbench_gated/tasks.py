"""Task plug-ins: anchorbench loads ``IDENTITY_LONG`` through the ``anchorbench.tasks`` entry point."""

from pathlib import Path

from anchorbench.specs import load_task_spec

IDENTITY_LONG = load_task_spec(Path(__file__).parent / "gated-identity-long-v1.yaml")
