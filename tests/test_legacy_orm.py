"""The legacy colour's ordinary Django ORM works through its view during a rollout."""

from django.db import transaction
from django.db.models import Avg, Count, F, Sum

from tests.harness import migrate, model_at


def test_legacy_orm_through_the_view(db):
    migrate("library", "0001")
    migrate("library", "0002")
    Book = model_at("library", "0001_initial", "Book")
    legacy = Book.objects.using("legacy")
    New = model_at("library", "0002_rename_title", "Book").objects.using("default")

    dune = legacy.create(isbn="1", title="Dune", price_cents=1000, stock=3)  # INSERT … RETURNING
    assert dune.pk is not None and New.get(pk=dune.pk).name == "Dune"

    dune.title = "Dune Messiah"
    dune.save(using="legacy")
    assert New.get(pk=dune.pk).name == "Dune Messiah"

    assert (
        legacy.filter(pk=dune.pk).update(stock=F("stock") + 2, price_cents=F("price_cents") * 2)
        == 1
    )
    dune.refresh_from_db(using="legacy")
    assert (dune.stock, dune.price_cents) == (5, 2000)

    emma, created = legacy.get_or_create(isbn="2", defaults={"title": "Emma"})
    assert created and legacy.get_or_create(isbn="2")[1] is False

    legacy.bulk_create(
        [Book(isbn="2", title="Emma (2nd ed.)"), Book(isbn="3", title="Ulysses")],
        update_conflicts=True,
        unique_fields=["isbn"],
        update_fields=["title"],
    )
    assert New.get(isbn="2").name == "Emma (2nd ed.)"
    assert New.get(isbn="3").name == "Ulysses"

    with transaction.atomic(using="legacy"):
        locked = legacy.select_for_update().get(isbn="3")
        locked.title = "Ulysses (annotated)"
        locked.save(using="legacy")
    assert New.get(isbn="3").name == "Ulysses (annotated)"

    totals = legacy.aggregate(n=Count("id"), stock=Sum("stock"), price=Avg("price_cents"))
    assert totals["n"] == 3 and totals["stock"] == 5
    assert list(legacy.values("title").order_by("title")[:1]) == [{"title": "Dune Messiah"}]

    assert legacy.filter(isbn="2").delete()[0] == 1
    assert New.count() == 2
    assert sorted(legacy.values_list("title", flat=True)) == ["Dune Messiah", "Ulysses (annotated)"]
