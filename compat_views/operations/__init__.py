"""The public migration operations (names are the contract)."""

from .columns import AddCompatColumn, AlterCompatColumn, RemoveCompatColumn, RenameCompatColumn
from .fill_in import FILL_IN
from .models import RemoveCompatModel, RenameCompatModel

__all__ = [
    "AddCompatColumn",
    "AlterCompatColumn",
    "FILL_IN",
    "RemoveCompatColumn",
    "RemoveCompatModel",
    "RenameCompatColumn",
    "RenameCompatModel",
]
