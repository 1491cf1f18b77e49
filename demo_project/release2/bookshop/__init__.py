"""Release 2's bookshop: ``title`` became ``name``; ``in_stock`` and a decimal ``price`` are new."""
