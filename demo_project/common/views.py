"""The bookshop's pages: an HTML list that says which colour served it, and a JSON API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.forms import modelform_factory
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import books

PAGE_SIZE = 50  # the page shows the newest books; the API returns them all unless limited


@require_http_methods(["GET", "POST"])
def books_page(request: HttpRequest) -> HttpResponse:
    """The newest books, and a form to add one in this release's fields: add a book on one
    colour's page, reload the other's, and it is there in the other release's shape."""
    form_class = modelform_factory(books.book_model(), fields=[f.name for f in books.fields()])
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("books")
    snapshot = books.snapshot(limit=PAGE_SIZE)
    rows = [[book[name] for name in snapshot["fields"]] for book in snapshot["books"]]
    return render(request, "common/books.html", {"snapshot": snapshot, "rows": rows, "form": form})


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        item = json.loads(request.body)
    except ValueError as exc:
        raise ValidationError({"body": f"not JSON: {exc}"}) from exc
    if not isinstance(item, dict):
        raise ValidationError({"body": "expected one JSON object"})
    return item


def _respond(action: Callable[[], dict[str, Any]], status: int = 200) -> JsonResponse:
    """Run ``action``; a client's mistake is a 4xx with the reason, never a 500."""
    try:
        return JsonResponse(action(), status=status)
    except ValidationError as exc:
        return JsonResponse({"errors": exc.message_dict}, status=400)
    except ObjectDoesNotExist:
        return JsonResponse({"errors": {"id": ["no such book"]}}, status=404)


@csrf_exempt  # a JSON API for scripts: no cookies, so no cross-site request to forge
@require_http_methods(["GET", "POST"])
def books_api(request: HttpRequest) -> JsonResponse:
    """GET: the books in this release's shape (``?limit=N``: the newest N).
    POST: create one book from a JSON object."""
    if request.method == "POST":
        return _respond(lambda: books.create(_json_body(request)), status=201)
    limit = request.GET.get("limit")
    if limit is not None and not limit.isdigit():
        return JsonResponse({"errors": {"limit": ["expected a whole number"]}}, status=400)
    return JsonResponse(books.snapshot(limit=None if limit is None else int(limit)))


@csrf_exempt
@require_http_methods(["GET", "PATCH"])
def book_api(request: HttpRequest, pk: int) -> JsonResponse:
    """GET: one book. PATCH: change the fields of a JSON object, keep the others."""
    if request.method == "PATCH":
        return _respond(lambda: books.update(pk, _json_body(request)))
    return _respond(lambda: books.get(pk))
