from django.contrib import admin

from accounts.selectors import user_may_enter_admin
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
