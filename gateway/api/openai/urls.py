from django.urls import path, re_path

from gateway.api.openai.base import not_found
from gateway.api.openai.chat import ChatCompletionsView
from gateway.api.openai.completions import CompletionsView
from gateway.api.openai.models import EmbeddingsView, ModelDetailView, ModelsView
from gateway.api.openai.responses import ResponsesView

urlpatterns = [
    path("chat/completions", ChatCompletionsView.as_view()),
    path("completions", CompletionsView.as_view()),
    path("responses", ResponsesView.as_view()),
    path("models", ModelsView.as_view()),
    path("models/<path:model>", ModelDetailView.as_view()),
    path("embeddings", EmbeddingsView.as_view()),
    re_path(r"^.*$", not_found),
]
