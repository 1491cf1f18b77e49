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

# The migration writer names an operation by its class's module: migrations that
# makemigrations writes then import this public path, not the module it lives in today.
for _name in __all__:
    globals()[_name].__module__ = __name__
