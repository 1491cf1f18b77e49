"""The public migration operations (names are the contract)."""

from .columns import AddCompatColumn, AlterCompatColumn, RemoveCompatColumn, RenameCompatColumn

__all__ = ["AddCompatColumn", "AlterCompatColumn", "RemoveCompatColumn", "RenameCompatColumn"]
