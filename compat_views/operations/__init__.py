"""The public migration operations (names are the contract)."""

from .columns import AddCompatColumn, RenameCompatColumn

__all__ = ["AddCompatColumn", "RenameCompatColumn"]
