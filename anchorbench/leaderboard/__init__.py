"""Leaderboard: submission records, validation, verification by re-run, the board."""
