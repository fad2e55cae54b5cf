from django.urls import include, path

from accounts.sso.views import SignInView, SignOutView
from gateway.web import chat_views, views

urlpatterns = [
    path("", chat_views.chat, name="web-chat"),
    path("c/new", chat_views.conversation_new, name="web-conversation-new"),
    path("render", chat_views.render_preview, name="web-render"),
    path("c/<uuid:conversation_id>/", chat_views.chat, name="web-conversation"),
    path(
        "c/<uuid:conversation_id>/thread",
        chat_views.conversation_thread,
        name="web-conversation-thread",
    ),
    path(
        "c/<uuid:conversation_id>/version",
        chat_views.conversation_version,
        name="web-conversation-version",
    ),
    path(
        "c/<uuid:conversation_id>/images/<int:message_id>/<int:n>",
        chat_views.conversation_image,
        name="web-conversation-image",
    ),
    path(
        "c/<uuid:conversation_id>/export.<str:fmt>",
        chat_views.conversation_download,
        name="web-conversation-export",
    ),
    path(
        "c/<uuid:conversation_id>/stop",
        chat_views.conversation_stop,
        name="web-conversation-stop",
    ),
    path(
        "c/<uuid:conversation_id>/settings",
        chat_views.conversation_settings,
        name="web-conversation-settings",
    ),
    path(
        "c/<uuid:conversation_id>/rename",
        chat_views.conversation_rename,
        name="web-conversation-rename",
    ),
    path(
        "c/<uuid:conversation_id>/delete",
        chat_views.conversation_remove,
        name="web-conversation-delete",
    ),
    path("favicon.ico", views.favicon, name="favicon"),
    path("models/", views.models, name="web-models"),
    path("tokens/", views.tokens, name="web-tokens"),
    path("tokens/<int:token_id>/revoke", views.token_revoke_confirm, name="web-token-revoke"),
    path("usage/", views.usage, name="web-usage"),
    path("records/<uuid:call_id>/", views.record, name="web-record"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("sso/", include("accounts.sso.urls")),
]
