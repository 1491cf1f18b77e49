"""Benchmarks of compat_views; each script under here measures one acceptance point."""
