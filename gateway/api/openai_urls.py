from django.urls import path, re_path

from gateway.api import openai_door as views
from gateway.api.openai_completions import CompletionsView
from gateway.api.openai_responses import ResponsesView

urlpatterns = [
    path("chat/completions", views.ChatCompletionsView.as_view()),
    path("completions", CompletionsView.as_view()),
    path("responses", ResponsesView.as_view()),
    path("models", views.ModelsView.as_view()),
    path("models/<path:model>", views.ModelDetailView.as_view()),
    path("embeddings", views.EmbeddingsView.as_view()),
    re_path(r"^.*$", views.not_found),
]
