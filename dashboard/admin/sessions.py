"""Live sessions: a django-tables2 table refreshed by htmx, and the session actions.

The page (``admin:console_sessions``, an ``UNFOLD["SITE_VIEWS"]`` view) answers an
htmx request with only its table partial (``page.html#table``), so the table
refreshes every few seconds with the same sort, filters and page. Pagination is
``LazyPaginator``: no COUNT, ever. "Send test message", "Disconnect" and "Send to
channel" are Unfold actions of ``WebSocketSessionAdmin`` with confirmation dialogs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView
from django_tables2 import LazyPaginator, RequestConfig
from unfold.decorators import action, display
from unfold.enums import ActionVariant
from unfold.views import UnfoldSiteViewMixin

from dashboard.admin.common import (
    ConsoleModelAdmin,
    back_to,
    label_html,
    notify,
    outcome_message,
    record,
    short,
)
from dashboard.forms import (
    LAST_SEEN_WINDOWS,
    DisconnectDialogForm,
    SendTestMessageForm,
    SendToChannelForm,
    SessionFilterForm,
)
from dashboard.tables import SessionTable
from wsapp.models import WebSocketSession
from wsapp.sending import (
    ManagementApiError,
    close_connection,
    get_connection_info,
    send_to_sessions,
)

logger = logging.getLogger("wsapp")

VIEW = "wsapp.view_websocketsession"
CHANGE = "wsapp.change_websocketsession"
#: Seconds between two refreshes of the live table.
REFRESH_SECONDS = 5
#: Users a search term may match; the session query then uses their ids.
MAX_SEARCH_USERS = 50
#: Rows per page: the default, and the most a ``per_page`` in the URL may ask for.
PER_PAGE = 25
MAX_PER_PAGE = 100
#: The last page the URL may ask for. Deeper pages cost an OFFSET scan of every row
#: before them; filters find old sessions faster than paging does.
MAX_PAGE = 10_000


def can_view_sessions(user: Any) -> bool:
    return user.has_perm(VIEW) or user.has_perm(CHANGE)


def filter_sessions(form: SessionFilterForm, now: datetime | None = None) -> QuerySet:
    """The sessions matching the page's filters, as one indexed query.

    Each filter maps onto an index of ``WebSocketSession``: ``connected`` with
    ``created_on``/``last_seen``, the partial indexes on channel and user of connected
    sessions, the unique connection id. Users are looked up first (a small table),
    so the session query never joins to filter.
    """
    sessions = WebSocketSession.objects.select_related("api_gateway", "user").only(
        "connection_id",
        "channel_name",
        "connected",
        "created_on",
        "last_seen",
        "request_count",
        "source_ip",
        "api_gateway__api_name",
        "user__username",
    )
    state = form.connected_value()
    if state == "yes":
        sessions = sessions.filter(connected=True)
    elif state == "no":
        sessions = sessions.filter(connected=False)
    # An invalid field is left out of cleaned_data and shown with its error; the
    # valid ones still apply, so one typo does not widen the table to everything.
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    if data.get("gateway"):
        sessions = sessions.filter(api_gateway=data["gateway"])
    if data.get("channel"):
        sessions = sessions.filter(channel_name=data["channel"].strip())
    if data.get("user"):
        sessions = sessions.filter(user_id__in=_user_ids(username=data["user"].strip()))
    window = LAST_SEEN_WINDOWS.get(data.get("last_seen") or "")
    if window:
        now = now or timezone.now()
        newer, older = window
        if newer is not None:
            sessions = sessions.filter(last_seen__gte=now - newer)
        if older is not None:
            sessions = sessions.filter(last_seen__lt=now - older)
    term = (data.get("q") or "").strip()
    if term:
        sessions = sessions.filter(
            Q(connection_id=term) | Q(user_id__in=_user_ids(username_prefix=term))
        )
    return sessions


def _user_ids(*, username: str = "", username_prefix: str = "") -> list[int]:
    users = get_user_model().objects.all()
    if username:
        users = users.filter(username=username)
    else:
        users = users.filter(username__istartswith=username_prefix)
    return list(users.order_by("pk").values_list("pk", flat=True)[:MAX_SEARCH_USERS])


def page_numbers(request: HttpRequest) -> tuple[int, int]:
    """The ``page`` and ``per_page`` of the query string, made safe to query with.

    A page that is not a number, below 1 or past ``MAX_PAGE`` means the first page
    (a huge one would overflow the database's OFFSET). ``per_page`` is clamped to
    1..``MAX_PER_PAGE``: one request must not load a million rows.
    """
    page = _int_or_none(request.GET.get("page"))
    if page is None or not 1 <= page <= MAX_PAGE:
        page = 1
    per_page = _int_or_none(request.GET.get("per_page"))
    if per_page is None:
        per_page = PER_PAGE
    return page, min(max(per_page, 1), MAX_PER_PAGE)


def paging_notes(request: HttpRequest, table: SessionTable) -> list[str]:
    """What the page did instead of what the query string asked (never silently)."""
    notes = []
    raw_page = request.GET.get("page")
    page = _int_or_none(raw_page)
    if raw_page is not None and (page is None or not 1 <= page <= MAX_PAGE):
        notes.append(f"There is no page {raw_page[:40]!r}: showing page 1.")
    raw_per_page = request.GET.get("per_page")
    per_page = _int_or_none(raw_per_page)
    if raw_per_page is not None and (per_page is None or not 1 <= per_page <= MAX_PER_PAGE):
        notes.append(
            f"Rows per page must be a number from 1 to {MAX_PER_PAGE}, not "
            f"{raw_per_page[:40]!r}: showing {page_numbers(request)[1]}."
        )
    sort = request.GET.get("sort")
    if sort:
        name = sort.removeprefix("-")
        column = table.columns[name] if name in table.columns.names() else None
        if column is None or not column.orderable:
            notes.append(f"The table cannot be sorted by {sort[:40]!r}: showing newest first.")
    return notes


def _int_or_none(value: str | None) -> int | None:
    # int() of a 5,000-digit string raises ValueError too: all mean "not a page".
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class LiveSessionsView(UnfoldSiteViewMixin, TemplateView):
    """The live sessions page; an htmx request gets only the table partial."""

    title = "Live sessions"
    permission_required = (VIEW,)
    template_name = "dashboard/sessions/page.html"

    def has_permission(self) -> bool:
        return can_view_sessions(self.request.user)

    @property
    def wants_table(self) -> bool:
        """An htmx refresh of the table, not a navigation that needs the whole page.

        htmx's history restore (after a cache miss) and boosted links swap the
        whole body, so they must get the whole page.
        """
        htmx = getattr(self.request, "htmx", None)
        return bool(htmx) and not htmx.boosted and not htmx.history_restore_request

    def get_template_names(self) -> list[str]:
        if self.wants_table:
            return [f"{self.template_name}#table"]
        return [self.template_name]

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **kwargs)
        # The same URL answers a page or a partial: caches must keep them apart.
        patch_vary_headers(response, ["HX-Request"])
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = SessionFilterForm(self.request.GET or None)
        table = SessionTable(filter_sessions(form), can_act=self.request.user.has_perm(CHANGE))
        state = form.connected_value()
        if state == "any":
            # Only (connected, last_seen) is indexed: across both states, sorting by
            # last seen would sort the whole table.
            table.columns["last_seen"].column.orderable = False
        # Sorting from the query string; paging is done below with checked numbers.
        RequestConfig(self.request, paginate=False).configure(table)
        page, per_page = page_numbers(self.request)
        notes = paging_notes(self.request, table)
        try:
            table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=page)
        except (EmptyPage, PageNotAnInteger):
            # Past the end (rows went away since the link was made): the first page.
            table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=1)
            notes.append(f"Page {page} is past the end of the list: showing page 1.")
        context.update(
            form=form,
            table=table,
            paging_notes=notes,
            # Unfold's layout: the table uses the whole width of the window.
            is_fullwidth="1",
            refresh_seconds=REFRESH_SECONDS,
            can_send=self.request.user.has_perm(CHANGE),
            send_to_channel_url=reverse("admin:wsapp_websocketsession_send_to_channel"),
        )
        return context


@admin.register(WebSocketSession)
class WebSocketSessionAdmin(ConsoleModelAdmin):
    """Session records: read-only, with the actions that reach the socket."""

    list_display = ("connection_id", "api_gateway", "channel_name", "user", "connected")
    actions_row = ("send_test_message", "disconnect")
    actions_detail = ("send_test_message", "disconnect")
    actions_list = ("send_to_channel",)
    change_form_outer_before_template = "dashboard/sessions/connection_loader.html"
    fields = (
        "connection_id",
        "api_gateway",
        "channel_name",
        "user",
        "state_display",
        "created_on",
        "last_seen",
        "disconnected_on",
        "request_count",
        "source_ip",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The record itself is never edited; the actions check CHANGE themselves.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a row leaves its socket open: Disconnect, or the cleanup, instead.
        return False

    def has_act_on_session_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Send test message, Disconnect and Send to channel (Unfold's named permission)."""
        return request.user.has_perm(CHANGE)

    @display(description="State")
    def state_display(self, obj: WebSocketSession) -> str:
        if obj.connected:
            return label_html("connected", "success")
        return label_html("disconnected")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The stock list would COUNT a million rows: the live page replaces it."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        target = reverse("admin:console_sessions")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{target}?{query}" if query else target)

    # --- What API Gateway knows about the connection (read-only, loaded by htmx)

    def get_urls(self) -> list[URLPattern]:
        info = path(
            "<path:object_id>/connection/",
            self.admin_site.admin_view(self.connection_view),
            name="wsapp_websocketsession_connection",
        )
        return [info, *super().get_urls()]

    def connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        if not self.has_view_or_change_permission(request, session):
            raise PermissionDenied
        context: dict[str, Any] = {"session": session, "info": None, "error": ""}
        try:
            context["info"] = get_connection_info(session)
        except ManagementApiError as exc:
            context["error"] = short(exc)
        except Exception as exc:  # the panel shows a reason, never a traceback
            logger.exception("Reading connection %s failed", session.connection_id)
            context["error"] = f"Unexpected error ({type(exc).__name__}); see the server log."
        return TemplateResponse(request, "dashboard/sessions/connection.html", context)

    # --- Actions

    def _session(self, request: HttpRequest, object_id: str) -> WebSocketSession:
        session = self.get_object(request, object_id)
        if session is None:
            raise Http404("No such session.")
        return session

    @action(
        description="Send test message",
        url_path="send-test-message",
        icon="send",
        permissions=["act_on_session"],
        dialog={
            "title": "Send a test message",
            "description": "Posts this JSON to the connection through the management API "
            "(PostToConnection).",
            "form_class": SendTestMessageForm,
            "form_submit_text": "Send",
        },
    )
    def send_test_message(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        if not session.connected:
            ok, detail = False, "the session is not connected."
        else:
            report = send_to_sessions([session], form.cleaned_data["message"])
            if report.delivered:
                ok, detail = True, "delivered."
            elif report.gone:
                ok, detail = False, "gone: the connection no longer exists (marked disconnected)."
            else:
                reason = next(iter(report.failed.values()), "no call was made")
                ok, detail = False, f"failed: {reason}"
        text = outcome_message("Send test message", ok, detail)
        record(request.user.pk, session, text)
        notify(request, ok, f"{session.connection_id}: {text}")
        return back_to(request, reverse("admin:console_sessions"))

    @action(
        description="Disconnect",
        url_path="disconnect",
        icon="link_off",
        permissions=["act_on_session"],
        variant=ActionVariant.DANGER,
        dialog={
            "title": "Disconnect this session?",
            "description": "Closes the socket through the management API "
            "(DeleteConnection) and marks the session disconnected. The client may "
            "reconnect.",
            "form_class": DisconnectDialogForm,
            "form_submit_text": "Disconnect",
        },
    )
    def disconnect(self, request: HttpRequest, form: Any, object_id: str) -> HttpResponse:
        session = self._session(request, object_id)
        was_connected = session.connected
        # Even for a row that says closed: it may be wrong (a failed close marks it
        # closed anyway), so API Gateway is asked all the same.
        report = close_connection(session)
        if report.closed:
            ok, detail = True, "closed."
        elif report.gone:
            marked = "; marked disconnected." if was_connected else "."
            ok, detail = True, f"the connection was already gone{marked}"
        else:
            reason = next(iter(report.failed.values()), "no call was made")
            marked = " (marked disconnected anyway)" if was_connected else ""
            ok, detail = False, f"failed: {reason}{marked}"
        text = outcome_message("Disconnect", ok, detail)
        record(request.user.pk, session, text)
        notify(request, ok, f"{session.connection_id}: {text}")
        return back_to(request, reverse("admin:console_sessions"))

    @action(
        description="Send to channel",
        url_path="send-to-channel",
        icon="campaign",
        permissions=["act_on_session"],
        dialog={
            "title": "Send to a channel",
            "description": "Posts this JSON to every connected session of the channel "
            "through the management API.",
            "form_class": SendToChannelForm,
            "form_submit_text": "Send",
        },
    )
    def send_to_channel(self, request: HttpRequest, form: SendToChannelForm) -> HttpResponse:
        channel = form.cleaned_data["channel"]
        gateway = form.cleaned_data.get("gateway")
        report = send_to_sessions(form.sessions(), form.cleaned_data["message"])
        ok = report.ok
        where = f"channel {channel}" + (f" on {gateway.api_name}" if gateway else "")
        text = outcome_message(f"Send to {where}", ok, report.summary() + ".")
        record(request.user.pk, None, text, model=WebSocketSession, object_repr=where)
        notify(request, ok, text)
        return back_to(request, reverse("admin:console_sessions"))
