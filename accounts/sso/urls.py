from django.urls import path

from accounts.sso import views

urlpatterns = [
    path("start", views.SignInStart.as_view(), name="sso-start"),
    path("callback", views.SignInCallback.as_view(), name="sso-callback"),
    path("connect", views.connect, name="sso-connect"),
]
