"""A pantry whose second migration changes its tables with compat operations."""
