from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class CookieOrBearerJWTScheme(OpenApiAuthenticationExtension):
    """Either carrier of the access JWT (authn.authentication), as two alternative schemes."""

    target_class = "authn.authentication.CookieOrBearerJWTAuthentication"
    name = ["bearerAuth", "cookieAuth"]

    def get_security_definition(self, auto_schema):
        cookie = {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.AUTH_COOKIE_NAME,
            "description": "Set at login; unsafe requests must also send X-CSRFToken.",
        }
        return [build_bearer_security_scheme_object("Authorization", "Bearer", "JWT"), cookie]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"cookieAuth": []}]
