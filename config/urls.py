from django.contrib import admin
from django.urls import include, path

from config.views import json_not_found, json_server_error
from gateway import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("gateway.api.native.urls")),
    path("ollama/", include("gateway.api.ollama.urls")),
    path("v1/", include("gateway.api.openai.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("gateway.web.urls")),
]

handler404 = json_not_found
handler500 = json_server_error
