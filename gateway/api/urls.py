from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gateway.api.calls import CallDetailView, CallListView
from gateway.api.chat import ChatView
from gateway.api.models import ModelListView

urlpatterns = [
    path("chat", ChatView.as_view(), name="api-chat"),
    path("models", ModelListView.as_view(), name="api-models"),
    path("calls", CallListView.as_view(), name="api-calls"),
    path("calls/<str:call_id>", CallDetailView.as_view(), name="api-call-detail"),
    path("schema", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path(
        "docs",
        SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[]),
        name="api-docs",
    ),
]
