from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from . import dashboard, metrics, views

api_patterns = [
    path("", include("authn.urls")),
    path("", include("accounts.urls")),
    path("", include("transactions.urls")),
    path("", include("webhooks.urls")),
    path("", include("events.urls")),
    path("health", views.HealthApi.as_view(), name="health"),
    path("schema/", views.SchemaApi.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    # The admin home with the operator's dashboard; staff only, like every admin page.
    path("admin/", admin.site.admin_view(dashboard.admin_index), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # For Prometheus, and only for the readers METRICS_ALLOWED_NETWORKS / METRICS_BEARER_TOKEN allow.
    path("metrics", metrics.metrics_view, name="metrics"),
    # Everything else, malformed ids included (they match no <uuid:> route), is a JSON 404,
    # whatever DEBUG says.
    re_path(r"^", views.not_found),
]

handler400 = "ledger_project.views.bad_request"
handler404 = "ledger_project.views.not_found"
handler500 = "ledger_project.views.server_error"
