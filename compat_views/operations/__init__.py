"""The public migration operations (names are the contract)."""

from .columns import AddCompatColumn, AlterCompatColumn, RemoveCompatColumn, RenameCompatColumn
from .models import RemoveCompatModel, RenameCompatModel

__all__ = [
    "AddCompatColumn",
    "AlterCompatColumn",
    "RemoveCompatColumn",
    "RemoveCompatModel",
    "RenameCompatColumn",
    "RenameCompatModel",
]
