"""The placeholder makemigrations writes for an expression only a person can choose.

``FILL_IN("hint")`` is a ``str`` (so the operations accept it where they take
``up`` / ``down``) that deconstructs as itself, so the migration writer writes
``compat_views.operations.FILL_IN('…')`` into the file, where a reviewer sees it.
Applying an operation that still holds one is refused, before any DDL, naming the
migration, the operation, the argument and what to write instead.
"""

from __future__ import annotations

from ..errors import UnfilledPlaceholder

EXPRESSIONS = ("up", "down")


class FILL_IN(str):  # noqa: N801  (loud on purpose: it must not be missed in review)
    """A SQL expression still to be written; the string is the hint saying what it needs."""

    def deconstruct(self):
        return "compat_views.operations.FILL_IN", (str.__str__(self),), {}

    def __repr__(self) -> str:
        return f"FILL_IN({str.__repr__(self)})"


def gaps(operation) -> list[str]:
    """One line for each placeholder an operation still holds, saying what it needs."""
    found = [(name, getattr(operation, name, None)) for name in EXPRESSIONS]
    return [
        f"`{name}` of {operation.what}: {str.__str__(value)}"
        for name, value in found
        if isinstance(value, FILL_IN)
    ]


def refuse(where: str, lines: list[str]) -> None:
    if lines:
        listed = "\n".join(f"  {line}" for line in lines)
        raise UnfilledPlaceholder(
            f"{where} still hold(s) placeholders that makemigrations could not fill in:\n"
            f"{listed}\nReplace each compat_views.operations.FILL_IN(…) in the migration file "
            "with the SQL expression it asks for, as a string. Nothing was changed."
        )
