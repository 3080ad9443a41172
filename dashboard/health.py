"""The Health page: the live troubleshooting checks (``wsapp.health``) in the console.

The page itself renders at once, with an empty results panel that htmx fills by
asking the same URL again (``hx-trigger="load"``); that request, and the Re-run
button, get only the ``results`` partial of ``dashboard/health.html``. Running
the checks only reads (the database, AWS, DNS), so both are plain GETs.

Staff only: the view is wrapped in ``admin_site.admin_view``, which sends anyone
else to the admin login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView
from unfold.views import UnfoldSiteViewMixin

from wsapp.health import DOCS, CheckResult, Status, run_checks, summary
from wsapp.models import ApiGateway

#: Seconds each network check may take while an operator waits for the page.
PAGE_TIMEOUT = 8.0
#: Unfold label variant of each status.
VARIANTS = {Status.PASS: "success", Status.WARN: "warning", Status.FAIL: "danger"}
SITE_TITLE = "Site"


def can_view_health(request: HttpRequest) -> bool:
    """Who may open the page (and see its sidebar entry): active staff users."""
    user = request.user
    return bool(user.is_active and user.is_staff)


def slugify_heading(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a ``## Heading``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@lru_cache(maxsize=4)
def _parse_sections(path: str, mtime: float) -> dict[str, str]:
    # mtime is part of the cache key: an edited file is read again.
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = sections.setdefault(slugify_heading(line[3:]), [])
        if current is not None:
            current.append(line)
    return {anchor: "\n".join(lines).strip() for anchor, lines in sections.items()}


def doc_sections() -> dict[str, str]:
    """``docs/troubleshooting.md`` split by ``##`` section, keyed by anchor.

    Empty when the file is not there (the page then shows the reference alone).
    """
    path = Path(settings.BASE_DIR) / DOCS
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    return _parse_sections(str(path), mtime)


@dataclass
class Row:
    """One result as the template shows it."""

    result: CheckResult
    variant: str
    doc_text: str


@dataclass
class Group:
    """The results of one subject: the site, or one gateway."""

    title: str
    subject: str
    link: str = ""
    rows: list[Row] = field(default_factory=list)

    @property
    def worst(self) -> str:
        statuses = {row.result.status for row in self.rows}
        for status in (Status.FAIL, Status.WARN):
            if status in statuses:
                return status.value
        return Status.PASS.value


def _gateway_link(pk: int | None) -> str:
    if pk is None:
        return ""
    try:
        return reverse("admin:wsapp_apigateway_change", args=[pk])
    except NoReverseMatch:
        return ""


def group_results(results: list[CheckResult]) -> list[Group]:
    """Site checks first, then one group per gateway, in the order ``run_checks`` gives."""
    sections = doc_sections()
    names = {r.subject for r in results if r.subject}
    pks = dict(
        ApiGateway.objects.filter(api_name__in=names).values_list("api_name", "pk")
        if names
        else []
    )
    groups: dict[str, Group] = {}
    for item in results:
        group = groups.get(item.subject)
        if group is None:
            if item.subject:
                group = Group(
                    f"Gateway {item.subject}", item.subject, _gateway_link(pks.get(item.subject))
                )
            else:
                group = Group(SITE_TITLE, "")
            groups[item.subject] = group
        group.rows.append(Row(item, VARIANTS[item.status], sections.get(item.anchor, "")))
    return list(groups.values())


class HealthView(UnfoldSiteViewMixin, TemplateView):
    """The page; an htmx request runs the checks and gets only the results partial."""

    title = "Health"
    template_name = "dashboard/health.html"

    def has_permission(self) -> bool:
        return can_view_health(self.request)

    @property
    def wants_results(self) -> bool:
        """An htmx request from the page itself (not a boosted navigation)."""
        htmx = getattr(self.request, "htmx", None)
        return bool(htmx) and not htmx.boosted

    def get_template_names(self) -> list[str]:
        if self.wants_results:
            return [f"{self.template_name}#results"]
        return [self.template_name]

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **kwargs)
        # The same URL answers a page or a partial: caches must keep them apart.
        patch_vary_headers(response, ["HX-Request"])
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["docs_path"] = DOCS
        if self.wants_results:
            results = run_checks(timeout=PAGE_TIMEOUT)
            counts = summary(results)
            context.update(
                groups=group_results(results),
                counts=counts,
                total=len(results),
                overall=("fail" if counts["fail"] else "warn" if counts["warn"] else "pass"),
                checked_at=timezone.now(),
            )
        return context


#: The view as routed: staff only, through the admin site (``dashboard_health``).
health_view = admin.site.admin_view(HealthView.as_view(admin_site=admin.site))
