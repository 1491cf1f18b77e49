"""The bookshop's pages: an HTML list that says which colour served it, and a JSON API."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from . import books

PAGE_SIZE = 50  # the page shows the newest books; the API returns them all


@require_GET
def books_page(request: HttpRequest) -> HttpResponse:
    snapshot = books.snapshot(limit=PAGE_SIZE)
    rows = [[book[name] for name in snapshot["fields"]] for book in snapshot["books"]]
    return render(request, "common/books.html", {"snapshot": snapshot, "rows": rows})


@csrf_exempt  # a JSON API for scripts: no cookies, so no cross-site request to forge
@require_http_methods(["GET", "POST"])
def books_api(request: HttpRequest) -> JsonResponse:
    """GET: every book in this release's shape. POST: create one book from a JSON object."""
    if request.method == "GET":
        return JsonResponse(books.snapshot())
    try:
        item = json.loads(request.body)
    except ValueError as exc:
        return JsonResponse({"errors": {"body": [f"not JSON: {exc}"]}}, status=400)
    if not isinstance(item, dict):
        return JsonResponse({"errors": {"body": ["expected one JSON object"]}}, status=400)
    try:
        (created,) = books.create([item])
    except ValidationError as exc:
        return JsonResponse({"errors": exc.message_dict}, status=400)
    return JsonResponse(created, status=201)
