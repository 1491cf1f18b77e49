"""Release 2's bookshop: ``title`` became ``name``, integer cents a decimal ``price``, the
``format`` is gone and every book has a ``slug``."""
