"""The admin's sign-in form: whoever may enter the admin signs in at /admin/login/ (staff, global
auditors, team admins and auditors), not only staff as Django's own form allows."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from accounts.selectors import user_may_enter_admin


class AdminSignInForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match an account.",
        "may_not_enter": (
            "This account has no role in the admin (it is for staff, auditors and team admins). "
            "Use the chat instead."
        ),
    }

    def confirm_login_allowed(self, user) -> None:
        if not user.is_active:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive")
        if not user_may_enter_admin(user=user):
            raise forms.ValidationError(self.error_messages["may_not_enter"], code="may_not_enter")
