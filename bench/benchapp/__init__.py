"""A one-table Django app whose only purpose is to have a column renamed by the bench."""
