"""A Django app whose integer-cents column the sync-cost bench turns into a decimal."""
