"""Release 1's bookshop: books with a ``title``, an integer ``price_cents`` and a ``format``."""
