"""Names that need quoting: mixed case, spaces, a double quote, reserved words."""

from django.db import models


class OddBook(models.Model):
    select = models.IntegerField(db_column="select")
    order = models.CharField(max_length=50)
    twice = models.IntegerField(db_column='we"ird col')

    class Meta:
        db_table = 'Odd "Book" Table'
