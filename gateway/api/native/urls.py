from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# The schema's extensions (the bearer token scheme, Corral's serializers and fields) register as
# they load: here, beside the views that serve the schema, so that a process serving no schema
# (the Celery worker) never loads drf-spectacular's plumbing and Django's test tools with them.
from accounts import schema as _token_scheme  # noqa: F401
from gateway.api.native import schema as _extensions  # noqa: F401
from gateway.api.native.calls import CallDetailView, CallListView
from gateway.api.native.chat import ChatView
from gateway.api.native.completions import (
    CompletionCancelView,
    CompletionDetailView,
    CompletionListView,
)
from gateway.api.native.model_list import ModelListView
from gateway.api.native.tokens import TokenDetailView, TokenListView
from gateway.api.native.usage import UsageView

urlpatterns = [
    path("chat", ChatView.as_view(), name="api-chat"),
    path("models", ModelListView.as_view(), name="api-models"),
    path("completions", CompletionListView.as_view(), name="api-completions"),
    path(
        "completions/<str:completion_id>",
        CompletionDetailView.as_view(),
        name="api-completion-detail",
    ),
    path(
        "completions/<str:completion_id>/cancel",
        CompletionCancelView.as_view(),
        name="api-completion-cancel",
    ),
    path("calls", CallListView.as_view(), name="api-calls"),
    path("calls/<str:call_id>", CallDetailView.as_view(), name="api-call-detail"),
    path("usage", UsageView.as_view(), name="api-usage"),
    path("tokens", TokenListView.as_view(), name="api-tokens"),
    path("tokens/<str:token_id>", TokenDetailView.as_view(), name="api-token-detail"),
    path("schema", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path(
        "docs",
        # Swagger UI writes <style> elements as it renders; the page shows only the schema.
        csp_update({"style-src": [SELF, UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[])
        ),
        name="api-docs",
    ),
]
