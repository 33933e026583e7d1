"""Execution: plan, run, sweep, where jobs run, and the records they write."""
