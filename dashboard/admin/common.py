"""Pieces every console module uses: audit records, responses to dialog actions.

Every operator action is a POST from an Unfold dialog (``unfold.decorators.action``
with ``dialog=``): a GET of an action URL only renders its confirmation dialog,
so no GET changes anything. The action records what it did in Django's admin
history (``LogEntry``) and answers with a redirect that htmx follows.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.admin import ModelAdmin as DjangoModelAdmin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.options import ActionLocation, IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from unfold.admin import ModelAdmin

logger = logging.getLogger("wsapp")

#: LogEntry.change_message is a TextField; keep entries readable in the history list.
MAX_LOG_MESSAGE = 1000


class ConsoleModelAdmin(ModelAdmin):
    """Unfold's ModelAdmin, with ``get_action_choices`` in Django 6.1's signature.

    Unfold 0.110 overrides it without ``action_location``, which Django 6.1
    deprecates (a warning on every change list, an error in the tests). Its change
    list refuses NUL characters in the query string (see ``changelist_view``).
    """

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # PostgreSQL cannot hold NUL in text, so a filter or search containing one
        # fails inside the query. Say so, and show the list with NUL removed.
        bad = sorted({key for key, values in request.GET.lists() if _has_nul(key, *values)})
        if bad:
            messages.error(
                request,
                f"Removed a NUL character (%00) from {', '.join(k.replace(NUL, '') for k in bad)}:"
                " filters and searches cannot contain it.",
            )
            query = QueryDict(mutable=True)
            for key, values in request.GET.lists():
                query.setlist(key.replace(NUL, ""), [v.replace(NUL, "") for v in values])
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        # Django's admin accepts any lookup on a model's fields in the query string
        # (?api_id__regex=[, ?created_at__year=99999999999). The database refuses some
        # only when the list is read, while the template renders: render here, and
        # answer a refused lookup with a message instead of a server error.
        if list(request.GET) == [ERROR_FLAG]:
            # Where Django sends a list whose filters it refused; the message says why.
            return HttpResponseRedirect(request.path)
        try:
            response = super().changelist_view(request, extra_context)
            if isinstance(response, HttpResponseRedirect) and response.url.endswith(
                f"?{ERROR_FLAG}=1"
            ):
                return HttpResponseRedirect(request.path)
            if request.GET and isinstance(response, TemplateResponse):
                response.render()
        except (
            DisallowedModelAdminLookup,
            DatabaseError,
            OverflowError,
            ValueError,
            TypeError,
        ) as exc:
            if not request.GET:
                raise
            logger.info("Console list %s: refused query %s: %s", request.path, request.GET, exc)
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            messages.error(
                request,
                f"The list cannot be filtered by {', '.join(sorted(request.GET))}: {reason}. "
                "Showing it unfiltered.",
            )
            return HttpResponseRedirect(request.path)
        return response

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        try:
            return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            # Django then redirects to ?e=1 (see changelist_view): say what was wrong.
            params = ", ".join(sorted(k for k in request.GET if k != ERROR_FLAG))
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, ValidationError):
                detail = "; ".join(cause.messages)
            elif params == PAGE_VAR:
                detail = f"there is no page {request.GET.get(PAGE_VAR)!r}"
            else:
                detail = str(exc)
            messages.error(
                request,
                f"The list cannot be filtered by {params or 'these parameters'}"
                + f": {(detail or 'a value is not valid').rstrip('.')}. Showing it unfiltered.",
            )
            raise

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # A regular expression from the query string runs in the database: refused.
        if lookup.rsplit(LOOKUP_SEP, 1)[-1] in {"regex", "iregex"}:
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_action_choices(
        self,
        request: HttpRequest,
        default_choices: list[tuple[str, str]] | None = None,
        action_location: ActionLocation = ActionLocation.CHANGE_LIST,
    ) -> list[tuple[str, str]]:
        return DjangoModelAdmin.get_action_choices(
            self,
            request,
            default_choices=[("", "Select action")],
            action_location=action_location,
        )


NUL = "\x00"


def _has_nul(*texts: str) -> bool:
    return any(NUL in text for text in texts)


def record(
    user_id: int,
    obj: models.Model | None,
    message: str,
    *,
    model: type[models.Model] | None = None,
    object_repr: str = "",
    added: bool = False,
) -> LogEntry:
    """Write one admin history entry: who (``user_id``), what and how it ended (``message``).

    ``obj`` is the object acted on; for an action on no single object (a send to a
    channel) pass ``model`` and ``object_repr`` instead.
    """
    if obj is not None:
        model = type(obj)
        object_repr = str(obj)
    if model is None:
        raise ValueError("record() needs an object or a model.")
    return LogEntry.objects.create(
        user_id=user_id,
        content_type=ContentType.objects.get_for_model(model, for_concrete_model=False),
        object_id=str(obj.pk) if obj is not None else None,
        object_repr=object_repr[:200],
        action_flag=ADDITION if added else CHANGE,
        change_message=message[:MAX_LOG_MESSAGE],
    )


def label_html(text: str, variant: str = "") -> str:
    """Unfold's badge, as HTML: for read-only fields, where ``@display(label=...)`` is not
    applied."""
    return render_to_string("unfold/helpers/label.html", {"text": text, "variant": variant})


def outcome_message(action: str, ok: bool, detail: str) -> str:
    """'Deploy: succeeded. <detail>' or 'Deploy: failed. <detail>' for history and messages."""
    state = "succeeded" if ok else "failed"
    return f"{action}: {state}. {detail}".strip()


def notify(request: HttpRequest, ok: bool, text: str) -> None:
    """Show ``text`` on the next page, green when ``ok``, red otherwise."""
    (messages.success if ok else messages.error)(request, text)


def back_to(request: HttpRequest, fallback: str) -> HttpResponse:
    """Send the browser back to the page the dialog was opened on.

    htmx tells us that page in ``HX-Current-URL``; it keeps the table's sort,
    filters and page. A plain (non-htmx) POST gets an ordinary redirect.
    """
    target = fallback
    current = getattr(request, "htmx", None) and request.htmx.current_url
    if current and url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(current)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    if getattr(request, "htmx", None):
        return HttpResponseClientRedirect(target)
    return HttpResponseRedirect(target)


def short(text: Any, limit: int = 300) -> str:
    """First line of ``text``, at most ``limit`` characters: never a traceback."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
