from django.apps import AppConfig


class WsappConfig(AppConfig):
    name = "wsapp"
    verbose_name = "WebSockets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wsapp import checks, signals  # noqa: F401  (registers checks and receivers)
