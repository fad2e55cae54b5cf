from django.urls import include, path, re_path

from gateway.api import ollama_door as views

urlpatterns = [
    path("", views.running),
    path("api/chat", views.ChatView.as_view()),
    path("api/generate", views.GenerateView.as_view()),
    path("api/embed", views.EmbedView.as_view()),
    path("api/embeddings", views.LegacyEmbeddingsView.as_view()),
    path("api/tags", views.TagsView.as_view()),
    path("api/ps", views.PsView.as_view()),
    path("api/show", views.ShowView.as_view()),
    path("api/version", views.VersionView.as_view()),
    # Ollama's own OpenAI-compatible API, for tools configured with "http://ollama:11434/v1"
    path("v1/", include("gateway.api.openai.urls")),
    re_path(r"^.*$", views.not_found),
]
