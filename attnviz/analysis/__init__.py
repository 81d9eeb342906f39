"""Pure transforms of `Attention` (numpy only): selection, tokens, statistics, search, rollout."""
