from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model

from accounts.models import ApiToken, Membership, Team, UserLimits
from accounts.services import token_issue, token_revoke
from gateway.admin_roles import AuditorReadsMixin, RecordedAdminMixin, TeamScopedMixin

LIMIT_FIELDS = ["requests_per_minute", "tokens_per_day", "tokens_per_month"]


class MembershipInline(TeamScopedMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def _team_id(self, obj):
        # The inline is asked about its parent team.
        return obj.pk

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) or self._admin_of(request, obj)

    def get_autocomplete_fields(self, request):
        # The user search needs view rights on all users, which team admins do not have.
        return [] if self.is_team_admin_only(request) else super().get_autocomplete_fields(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) or self._admin_of(request, obj)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        # A team admin may make members and team admins; auditors read every team's records,
        # so only staff appoint them.
        if db_field.name == "role" and self.is_team_admin_only(request):
            kwargs["choices"] = [
                (value, label)
                for value, label in Membership.Role.choices
                if value != Membership.Role.AUDITOR
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(Team)
class TeamAdmin(RecordedAdminMixin, AuditorReadsMixin, TeamScopedMixin, admin.ModelAdmin):
    team_path = "pk"
    list_display = ["slug", "name", "all_models", *LIMIT_FIELDS, "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["allowed_routes"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["slug", "name"]}),
        ("Models", {"fields": ["all_models", "allowed_routes", "capture_content"]}),
        ("Limits (empty: none)", {"fields": LIMIT_FIELDS}),
    ]

    def get_prepopulated_fields(self, request, obj=None):
        return (
            {}
            if self.is_team_admin_only(request)
            else super().get_prepopulated_fields(request, obj)
        )

    def get_readonly_fields(self, request, obj=None):
        if self.is_team_admin_only(request):
            # A team admin runs the team's people and limits; what models it may use is the operators'.
            return ["slug", "name", "all_models", "allowed_routes", "capture_content"]
        return super().get_readonly_fields(request, obj)


class ApiTokenAdminForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "team", "name", "expires_at", *LIMIT_FIELDS]

    def clean(self):
        cleaned = super().clean()
        user, team = cleaned.get("user"), cleaned.get("team")
        if (
            self.instance.pk is None
            and user
            and team
            and not team.memberships.filter(user=user).exists()
        ):
            raise forms.ValidationError(f"{user} is not a member of {team}.")
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(RecordedAdminMixin, AuditorReadsMixin, TeamScopedMixin, admin.ModelAdmin):
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
    form = ApiTokenAdminForm

    def get_autocomplete_fields(self, request):
        return [] if self.is_team_admin_only(request) else super().get_autocomplete_fields(request)

    def get_fields(self, request, obj=None):
        fields = ["user", "team", "name", "expires_at", *LIMIT_FIELDS]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # A token keeps its owner and its team; issue a new one instead.
            return [*self.readonly_fields, "user", "team"]
        return self.readonly_fields

    def has_add_permission(self, request):
        return super().has_add_permission(request) or bool(self._administered(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if self.is_team_admin_only(request):
            teams = self._administered(request)
            if db_field.name == "team":
                kwargs["queryset"] = Team.objects.filter(pk__in=teams)
                kwargs["required"] = True
            elif db_field.name == "user":
                kwargs["queryset"] = (
                    get_user_model()
                    .objects.filter(memberships__team__in=teams, is_active=True)
                    .distinct()
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new token goes through the service; the secret is shown to the admin exactly once.
        token, secret = token_issue(
            user=obj.user,
            name=obj.name,
            team=obj.team,
            expires_at=obj.expires_at,
            actor=request.user,
        )
        for field in LIMIT_FIELDS:
            setattr(token, field, getattr(obj, field))
        token.save(update_fields=LIMIT_FIELDS)
        obj.pk, obj.prefix = token.pk, token.prefix
        request._corral_recorded = True
        messages.warning(request, f"Copy the new token now, it is not shown again: {secret}")

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset:
            token_revoke(token=token, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} token(s).")


@admin.register(UserLimits)
class UserLimitsAdmin(RecordedAdminMixin, AuditorReadsMixin, admin.ModelAdmin):
    list_display = ["user", *LIMIT_FIELDS]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
