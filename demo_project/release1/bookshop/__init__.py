"""Release 1's bookshop: books with a ``title`` and an integer ``price_cents``."""
