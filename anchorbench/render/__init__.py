"""Rendering: tables, figures, the plot command, sweep summaries, suite reports."""
