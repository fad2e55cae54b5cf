from django.contrib import admin

from gateway.models import Backend, ModelRoute


class ModelRouteInline(admin.TabularInline):
    model = ModelRoute
    extra = 0
    fields = ["name", "upstream_model", "default_options", "enabled"]


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "base_url",
        "enabled",
        "connect_timeout",
        "read_timeout",
        "total_timeout",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "base_url"]
    inlines = [ModelRouteInline]


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = ["name", "backend", "upstream_model", "enabled", "updated_at"]
    list_filter = ["enabled", "backend"]
    search_fields = ["name", "upstream_model"]
    list_select_related = ["backend"]
