"""Example anchorbench plug-in: a small transformer with gated attention."""
