from django.contrib.admin.apps import AdminConfig


class CorralAdminConfig(AdminConfig):
    # (a class apart from the site's module: INSTALLED_APPS loads this before any model exists,
    # the site itself is loaded once they do)
    default_site = "config.admin_site.CorralAdminSite"
