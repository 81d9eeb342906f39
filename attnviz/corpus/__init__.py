"""Many texts through one model: read a corpus, run it in batches, keep running aggregates."""
