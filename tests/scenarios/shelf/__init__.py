"""Books on a shelf: one model renamed and one removed during a rollout."""
