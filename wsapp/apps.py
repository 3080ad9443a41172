from django.apps import AppConfig


class WsappConfig(AppConfig):
    name = "wsapp"
    verbose_name = "WebSockets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wsapp import signals  # noqa: F401  (connects the logout receivers)
