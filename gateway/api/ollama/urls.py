from django.urls import include, path, re_path

from gateway.api.ollama import models, views

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
    path("api/pull", models.ProgressView.as_view(operation="pull")),
    path("api/create", models.ProgressView.as_view(operation="create")),
    path("api/push", models.ProgressView.as_view(operation="push")),
    path("api/copy", models.ChangeView.as_view(operation="copy")),
    path("api/delete", models.ChangeView.as_view(operation="delete")),
    path("api/blobs/<str:digest>", models.BlobView.as_view()),
    # Ollama's own OpenAI-compatible API, for tools configured with "http://ollama:11434/v1"
    path("v1/", include("gateway.api.openai.urls")),
    re_path(r"^.*$", views.not_found),
]
