"""Release 1's URLs: the pages every release serves."""

from django.urls import include, path

urlpatterns = [path("", include("demo_project.common.urls"))]
