from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class CorralAdminSite(admin.AdminSite):
    """The admin, open to staff and also to team admins and auditors, who see only what their role
    allows (each ModelAdmin decides)."""

    site_header = "Corral administration"
    site_title = "Corral"
    index_title = "Gateway, teams and audit"
    # The list pages are wide (the audit list has nine columns): the index and breadcrumbs lead
    # everywhere the side menu would, and its 290 px go to the columns.
    enable_nav_sidebar = False

    @property
    def login_form(self):
        # Django's admin form lets in staff only; auditors and team admins sign in here too.
        from gateway.admin_login import AdminSignInForm

        return AdminSignInForm

    def has_permission(self, request) -> bool:
        # Imported here: this module is loaded with INSTALLED_APPS, before any model exists.
        from accounts.selectors import user_may_enter_admin

        return user_may_enter_admin(user=request.user)


class CorralAdminConfig(AdminConfig):
    default_site = "gateway.admin_site.CorralAdminSite"
