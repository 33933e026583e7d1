"""Training: the loop, batched seeds, the papers' own loops."""
