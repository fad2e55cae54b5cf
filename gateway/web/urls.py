from django.contrib.auth import views as auth_views
from django.urls import path

from gateway.web import views

urlpatterns = [
    path("", views.home, name="web-home"),
    path("tokens/", views.tokens, name="web-tokens"),
    path("usage/", views.usage, name="web-usage"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
