from django.contrib import admin, messages

from accounts.models import ApiToken, Membership, Team
from accounts.services import token_issue, token_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "all_models", "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["allowed_routes"]
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "name",
        "user",
        "team",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = ["team", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "user__username"]
    list_select_related = ["user", "team"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "revoked_at", "last_used_at", "last_used_ip"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        fields = ["user", "team", "name", "expires_at"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new token goes through the service; the secret is shown to the admin exactly once.
        token, secret = token_issue(
            user=obj.user, name=obj.name, team=obj.team, expires_at=obj.expires_at
        )
        obj.pk = token.pk
        obj.prefix = token.prefix
        messages.warning(request, f"Copy the new token now, it is not shown again: {secret}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
