from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.selectors import user_may_enter_admin
from accounts.sso.views import SignOutView, sign_in_context
from config.admin_login import AdminSignInForm


class CorralAdminSite(admin.AdminSite):
    """The admin, open to staff and also to team admins and auditors, who see only what their role
    allows (each ModelAdmin decides)."""

    site_header = "Corral administration"
    site_title = "Corral"
    index_title = "Gateway, teams and audit"
    # The list pages are wide (the audit list has nine columns): the index and breadcrumbs lead
    # everywhere the side menu would, and its 290 px go to the columns.
    enable_nav_sidebar = False
    # Django's admin form lets in staff only; auditors and team admins sign in here too.
    login_form = AdminSignInForm

    def has_permission(self, request) -> bool:
        return user_may_enter_admin(user=request.user)

    def login(self, request, extra_context=None):
        if not settings.CORRAL_PASSWORD_SIGN_IN and not request.user.is_authenticated:
            # No password form to show: the chat's sign-in page has the provider's button.
            next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
            return redirect(f"{reverse('login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
        return super().login(request, {**sign_in_context(), **(extra_context or {})})

    def logout(self, request, extra_context=None):
        # Like the chat's "Sign out": a single sign-on also ends the provider's session.
        return SignOutView.as_view(next_page=settings.LOGOUT_REDIRECT_URL)(request)
