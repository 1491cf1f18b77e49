"""URLs every release serves; a release's own ``urls.py`` includes them."""

from django.urls import path

from . import views

urlpatterns = [
    path("books/", views.books_page, name="books"),
    path("api/books/", views.books_api, name="books-api"),
    path("api/books/<int:pk>/", views.book_api, name="book-api"),
]
