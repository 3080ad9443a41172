"""Cleanup: what each cleanup would delete, a button that runs them, the run history.

The page is the ``CleanupRun`` list. "Run cleanup" (an Unfold dialog action)
records a run with ``wsapp.cleanup.start_cleanup`` and deletes in a background
thread with ``perform_cleanup``, which updates ``done``/``total`` after every
batch; the page polls a progress partial with htmx until the run ends. One run
at a time: a second start is refused while a run is in progress.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django_htmx.http import HttpResponseStopPolling
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from dashboard.admin.common import (
    ConsoleModelAdmin,
    back_to,
    notify,
    outcome_message,
    record,
    short,
)
from dashboard.forms import CleanupForm
from wsapp import cleanup
from wsapp.models import CleanupRun

logger = logging.getLogger("wsapp")

#: Starting a run creates a CleanupRun row: the add permission is "may run cleanups".
RUN = "wsapp.add_cleanuprun"
SOURCE = "console"
#: A run still "running" after this long lost its process (a restart mid-run): it no
#: longer blocks new runs.
ABANDONED_AFTER = timedelta(hours=1)
#: Seconds between two polls of the progress bar.
POLL_SECONDS = 1

_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}


class CleanupBusy(Exception):
    """Another cleanup run is in progress."""


def planned_counts(options: cleanup.CleanupOptions) -> list[dict[str, Any]]:
    """How many rows each selected cleanup would delete now (one COUNT each)."""
    return [
        {"key": key, "label": cleanup.LABELS[key][1], "count": queryset.count()}
        for key, queryset in options.querysets().items()
    ]


def active_run() -> CleanupRun | None:
    """The run in progress, if any (runs abandoned by a dead process are ignored)."""
    recent = timezone.now() - ABANDONED_AFTER
    return (
        CleanupRun.objects.filter(status=CleanupRun.Status.RUNNING, started_at__gte=recent)
        .order_by("started_at", "pk")
        .first()
    )


def start_console_cleanup(options: cleanup.CleanupOptions, user: Any) -> CleanupRun:
    """Record a run (and its start in the admin history), then delete in a background
    thread; raise CleanupBusy while another run is in progress.

    The lock serialises starts in this process; the check after creating the row
    catches a run another process started at the same moment (the later one yields).
    """
    with _lock:
        if active_run() is not None:
            raise CleanupBusy("A cleanup run is already in progress; wait for it to finish.")
        run = cleanup.start_cleanup(options, source=SOURCE, user=user)
        earlier = CleanupRun.objects.filter(
            status=CleanupRun.Status.RUNNING,
            started_at__gte=timezone.now() - ABANDONED_AFTER,
            pk__lt=run.pk,
        )
        if earlier.exists():
            CleanupRun.objects.filter(pk=run.pk).update(
                status=CleanupRun.Status.FAILED,
                finished_at=timezone.now(),
                error="Another cleanup run started at the same time; this one did nothing.",
            )
            raise CleanupBusy("A cleanup run is already in progress; wait for it to finish.")
        if getattr(user, "pk", None) is not None:
            # Recorded before the thread starts, so "started" precedes "ended" in history.
            chosen = ", ".join(cleanup.LABELS[key][1] for key in run.counts)
            record(
                user.pk,
                run,
                f"Cleanup run started: {run.total:,} rows to delete ({chosen}).",
                added=True,
            )
        thread = threading.Thread(
            target=_perform,
            args=(run.pk, options, getattr(user, "pk", None)),
            name=f"wsapp-cleanup-{run.pk}",
            daemon=True,
        )
        _threads[run.pk] = thread
        thread.start()
    return run


def _perform(run_pk: int, options: cleanup.CleanupOptions, user_id: int | None) -> None:
    try:
        run = CleanupRun.objects.get(pk=run_pk)
        try:
            cleanup.perform_cleanup(run, options)
        except Exception as exc:  # perform_cleanup has recorded the run as failed
            logger.exception("Console cleanup run %s failed", run_pk)
            text = outcome_message("Cleanup run", False, short(exc))
        else:
            done = " ".join(cleanup.describe_counts(run)) or "Nothing to delete."
            text = outcome_message("Cleanup run", True, done)
        if user_id is not None:
            record(user_id, run, text)
    except Exception:  # a background thread has nobody to raise to
        logger.exception("Console cleanup run %s could not be completed", run_pk)
    finally:
        # This thread's database connection is not closed by any request cycle.
        connections.close_all()
        with _lock:
            _threads.pop(run_pk, None)


def join_runs(timeout: float = 30.0) -> bool:
    """Wait for the runs this process started; True when all have ended (tests, shutdown)."""
    with _lock:
        threads = list(_threads.values())
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    return not any(thread.is_alive() for thread in threads)


def progress_percent(run: CleanupRun) -> int:
    if run.status != CleanupRun.Status.RUNNING:
        return 100 if run.status == CleanupRun.Status.FINISHED else 0
    if not run.total:
        return 0
    return min(100, round(100 * run.done / run.total))


@admin.register(CleanupRun)
class CleanupRunAdmin(ConsoleModelAdmin):
    """The cleanup page: counts, the run button, progress, and every run so far."""

    list_display = (
        "started_at",
        "finished_at",
        "source",
        "user",
        "dry_run",
        "status_badge",
        "progress",
        "summary",
    )
    list_filter = ("status", "source", "dry_run")
    list_before_template = "dashboard/cleanup/before_list.html"
    actions_list = ("run_cleanup",)
    ordering = ("-started_at",)
    fields = (
        "started_at",
        "finished_at",
        "source",
        "user",
        "dry_run",
        "status",
        "total",
        "done",
        "summary",
        "error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are started with "Run cleanup", never typed in

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the history of runs is an audit trail

    def has_run_cleanup_permission(self, request: HttpRequest) -> bool:
        """Run cleanup (Unfold's named permission): the add permission of CleanupRun."""
        return request.user.has_perm(RUN)

    @display(
        description="Status",
        label={"running": "warning", "finished": "success", "failed": "danger"},
    )
    def status_badge(self, obj: CleanupRun) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description="Progress")
    def progress(self, obj: CleanupRun) -> str:
        return f"{obj.done:,} / {obj.total:,}"

    @display(description="Result")
    def summary(self, obj: CleanupRun) -> str:
        if obj.error:
            return short(obj.error, 200)
        return " ".join(cleanup.describe_counts(obj)) or "-"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            # The run in progress, else the latest one: its bar shows how it ended.
            "cleanup_run": active_run() or CleanupRun.objects.order_by("-started_at").first(),
            "cleanup_counts_url": reverse("admin:wsapp_cleanuprun_counts"),
            "cleanup_poll_seconds": POLL_SECONDS,
        }
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("counts/", wrap(self.counts_view), name="wsapp_cleanuprun_counts"),
            path(
                "<int:run_id>/progress/",
                wrap(self.progress_view),
                name="wsapp_cleanuprun_progress",
            ),
            *super().get_urls(),
        ]

    def counts_view(self, request: HttpRequest) -> HttpResponse:
        """What each cleanup would delete with the default ages (read-only)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        options = CleanupForm.default_options()
        context = {"planned": planned_counts(options), "options": options}
        return TemplateResponse(request, "dashboard/cleanup/counts.html", context)

    def progress_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        """The progress bar of one run; once the run has ended, htmx stops polling."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = CleanupRun.objects.filter(pk=run_id).first()
        if run is None:
            raise Http404("No such cleanup run.")
        started = timezone.localtime(run.started_at)
        context = {
            "run": run,
            "title": f"Cleanup run of {started:%Y-%m-%d %H:%M:%S} ({run.get_status_display()})",
            "percent": progress_percent(run),
            "lines": cleanup.describe_counts(run),
            "poll_seconds": POLL_SECONDS,
        }
        response = TemplateResponse(request, "dashboard/cleanup/progress.html", context)
        if run.status != CleanupRun.Status.RUNNING:
            response.render()
            return HttpResponseStopPolling(response.content)
        return response

    @action(
        description="Run cleanup",
        url_path="run",
        icon="cleaning_services",
        permissions=["run_cleanup"],
        variant=ActionVariant.DANGER,
        dialog={
            "title": "Run the cleanups?",
            "description": "Deletes the selected rows in batches of "
            f"{cleanup.DEFAULT_BATCH_SIZE:,}. The page shows the progress; the run "
            "is recorded below.",
            "form_class": CleanupForm,
            "form_submit_text": "Delete now",
        },
    )
    def run_cleanup(self, request: HttpRequest, form: CleanupForm) -> HttpResponse:
        options = form.cleaned_data["options"]
        back = reverse("admin:wsapp_cleanuprun_changelist")
        try:
            run = start_console_cleanup(options, request.user)
        except CleanupBusy as exc:
            # A refusal is an outcome too: the history shows who tried, and why not.
            running = active_run()
            text = outcome_message("Cleanup run", False, f"refused: {exc}")
            if running is not None:
                record(request.user.pk, running, text)
            else:
                record(request.user.pk, None, text, model=CleanupRun, object_repr="cleanup")
            notify(request, False, str(exc))
            return back_to(request, back)
        notify(request, True, f"Cleanup started: {run.total:,} rows to delete.")
        return back_to(request, back)
