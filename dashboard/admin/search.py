"""The console's search box (Unfold's command search), with a page number checked.

Unfold's own view passes ``?page=`` straight to its paginator, so a page that is
not a number, or out of range, is a server error. This view, routed in front of
it, answers such a request with the first page instead.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import InvalidPage
from django.http import HttpRequest, HttpResponse


def _search(request: HttpRequest) -> HttpResponse:
    try:
        return admin.site.search(request)
    except (InvalidPage, ValueError):
        request.GET = request.GET.copy()
        request.GET["page"] = "1"
        return admin.site.search(request)


#: Staff only, like every admin view.
console_search = admin.site.admin_view(_search)
