from django.apps import AppConfig


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Identity"

    def ready(self):
        from . import schema  # noqa: F401  (registers the OpenAPI security schemes)
