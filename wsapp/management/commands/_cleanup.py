"""What the cleanup commands share (a leading underscore: Django does not list it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from wsapp import cleanup
from wsapp.models import CleanupRun


class CleanupCommand(BaseCommand):
    """Parse ``--batch-size``/``--dry-run``, run a ``CleanupOptions`` plan, print counts."""

    #: Recorded as ``CleanupRun.source``.
    source = ""
    verbosity = 1

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=cleanup.DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Rows deleted per transaction (default {cleanup.DEFAULT_BATCH_SIZE:,}, "
            f"at most {cleanup.MAX_BATCH_SIZE:,}).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted and delete nothing.",
        )

    def plan(self, options: dict[str, Any]) -> cleanup.CleanupOptions:
        """Build the plan from parsed options; raise ``ValueError`` naming the bad flag."""
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        try:
            cleanup.check_batch_size(options["batch_size"], name="--batch-size")
            plan = self.plan(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        dry_run = options["dry_run"]

        def progress(run: CleanupRun) -> None:
            if self.verbosity >= 2:
                self.stdout.write(f"  {run.done:,} of {run.total:,} rows deleted")

        try:
            run = cleanup.run_cleanup(plan, source=self.source, dry_run=dry_run, progress=progress)
        except DatabaseError as exc:
            raise CommandError(f"Cleanup failed: {exc}".strip()) from exc
        if self.verbosity < 1:
            return
        for line in cleanup.describe_counts(run):
            self.stdout.write(line)
        if dry_run:
            self.stdout.write(self.style.SUCCESS("Dry run: nothing was deleted."))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Done: {run.done:,} rows deleted (cleanup run #{run.pk}).")
            )

    def warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(message))
