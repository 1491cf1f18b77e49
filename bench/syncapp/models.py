"""The bench tables in their release-2 shape, so `makemigrations` sees no changes."""

from django.db import models


class Customer(models.Model):
    name = models.TextField()


class Order(models.Model):
    """An order as a Django app has it: a foreign key and two indexed columns besides the key.

    ``amount`` was integer cents in release 1 and is a decimal here. Django indexes every
    foreign key, so a table with no secondary index is the exception; the bench measures
    that worst case too, on a copy of this table with its secondary indexes dropped.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT)
    status = models.CharField(max_length=20, db_index=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    qty = models.IntegerField()
    note = models.TextField()
