from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q

from accounts.admin_roles import TeamScopedMixin, team_ids_with_role
from accounts.models import (
    LIMIT_FIELDS,
    ApiToken,
    Membership,
    SsoGroupRule,
    SsoIdentity,
    Team,
    UserLimits,
)
from accounts.selectors import users_a_team_admin_may_add
from accounts.services import token_issue, token_revoke, token_terms
from common.admin_log import RecordedAdminMixin
from common.errors import GatewayError

LIMITS = list(LIMIT_FIELDS)


class MembershipForm(forms.ModelForm):
    """What a team admin (who holds no permission over memberships) may do with a row: bring in
    people who hold no installation-wide role, make them members or team admins, and leave the
    auditors the operators appointed alone."""

    team_admin_only = False

    class Meta:
        model = Membership
        fields = ["user", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.team_admin_only and self.instance.role != Membership.Role.AUDITOR:
            role = self.fields["role"]
            role.choices = [c for c in role.choices if c[0] != Membership.Role.AUDITOR]

    def clean(self):
        cleaned = super().clean()
        if not self.team_admin_only:
            return cleaned
        instance, user, role = self.instance, cleaned.get("user"), cleaned.get("role")
        if instance.pk and instance.role == Membership.Role.AUDITOR and self.has_changed():
            raise ValidationError("Only operators change an auditor's membership.")
        newcomer = user is not None and user.pk != instance.user_id
        if newcomer and not users_a_team_admin_may_add().filter(pk=user.pk).exists():
            raise ValidationError(
                f"{user} holds an installation-wide role; only operators add them to teams."
            )
        if role == Membership.Role.AUDITOR and instance.role != Membership.Role.AUDITOR:
            raise ValidationError("Auditors are appointed by operators.")
        return cleaned


class MembershipFormSet(forms.BaseInlineFormSet):
    team_admin_only = False

    def clean(self):
        super().clean()
        if not self.team_admin_only:
            return
        for form in self.deleted_forms:
            if form.instance.pk and form.instance.role == Membership.Role.AUDITOR:
                raise ValidationError("Only operators remove an auditor from a team.")


class MembershipInline(admin.TabularInline):
    """The people of a team, on its page: rights follow the team (see TeamAdmin)."""

    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]

    def _team_admin_only(self, request) -> bool:
        return not request.user.has_perm("accounts.change_membership")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if self._team_admin_only(request):
            formset.team_admin_only = formset.form.team_admin_only = True
            # Offer the people they may add, and the team's own (whose rows are shown anyway).
            members = Q(memberships__team=obj) if obj is not None else Q(pk__in=[])
            field = formset.form.base_fields["user"]
            field.queryset = (
                field.queryset.filter(Q(pk__in=users_a_team_admin_may_add()) | members)
                .distinct()
                .order_by("username")
            )
        return formset

    def get_autocomplete_fields(self, request):
        # The user search needs view rights on all users, which team admins do not have.
        return [] if self._team_admin_only(request) else super().get_autocomplete_fields(request)

    def _holds(self, request, team, *roles) -> bool:
        # Asked without a team (the formset's queryset), any team where they hold the role will do:
        # the formset only ever shows one team's rows.
        return any(
            team.pk in held if team is not None else bool(held)
            for held in (team_ids_with_role(request, role) for role in roles)
        )

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._holds(
            request, obj, Membership.Role.ADMIN, Membership.Role.AUDITOR
        )

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) or self._holds(
            request, obj, Membership.Role.ADMIN
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or self._holds(
            request, obj, Membership.Role.ADMIN
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) or self._holds(
            request, obj, Membership.Role.ADMIN
        )


@admin.register(Team)
class TeamAdmin(RecordedAdminMixin, TeamScopedMixin, admin.ModelAdmin):
    team_path = "pk"
    list_display = ["slug", "name", "all_models", *LIMITS, "created_at"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["allowed_routes"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["slug", "name"]}),
        ("Models", {"fields": ["all_models", "allowed_routes", "capture_content"]}),
        ("Limits (empty: none)", {"fields": LIMITS}),
    ]

    def get_prepopulated_fields(self, request, obj=None):
        if not self.holds_model_permission(request, "change"):
            return {}
        return super().get_prepopulated_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if not self.holds_model_permission(request, "change"):
            # A team admin runs the team's people and limits; what models it may use is the operators'.
            return ["slug", "name", "all_models", "allowed_routes", "capture_content"]
        return super().get_readonly_fields(request, obj)


class ApiTokenAdminForm(forms.ModelForm):
    """A new token, always the signed-in person's own: nobody sees another person's secret."""

    class Meta:
        model = ApiToken
        fields = ["team", "name", "expires_at", *LIMITS]

    def __init__(self, *args, owner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.owner = owner
        if owner is not None and "team" in self.fields:
            self.fields["team"].queryset = Team.objects.filter(memberships__user=owner)

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and self.owner is not None:
            try:
                token_terms(user=self.owner, team=cleaned.get("team"))
            except GatewayError as exc:
                raise ValidationError(exc.message) from exc
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(RecordedAdminMixin, TeamScopedMixin, admin.ModelAdmin):
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
    readonly_fields = ["prefix", "created_at", "revoked_at", "last_used_at", "last_used_ip"]
    actions = ["revoke"]
    form = ApiTokenAdminForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form
        owner = request.user

        class OwnTokenForm(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, owner=owner, **inner)

        return OwnTokenForm

    def get_fields(self, request, obj=None):
        fields = ["team", "name", "expires_at", *LIMITS]
        return fields if obj is None else ["user", *fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # A token keeps its owner and its team; issue a new one instead.
            return [*self.readonly_fields, "user", "team"]
        return self.readonly_fields

    def has_add_permission(self, request):
        return super().has_add_permission(request) or bool(self.writable_teams(request))

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new token goes through the service, for the signed-in person; the secret is shown to
        # its owner exactly once.
        token, secret = token_issue(
            user=request.user,
            name=obj.name,
            team=obj.team,
            expires_at=obj.expires_at,
            limits={field: getattr(obj, field) for field in LIMITS},
            actor=request.user,
        )
        obj.pk, obj.prefix, obj.user = token.pk, token.prefix, token.user
        request._corral_recorded = True
        messages.warning(request, f"Copy your new token now, it is not shown again: {secret}")

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for token in self.writable(request, queryset):
            token_revoke(token=token, actor=request.user)
            revoked += 1
        skipped = queryset.count() - revoked
        messages.success(request, f"Revoked {revoked} token(s).")
        if skipped:
            messages.warning(request, f"{skipped} token(s) of teams you do not administer: left.")


@admin.register(UserLimits)
class UserLimitsAdmin(RecordedAdminMixin, admin.ModelAdmin):
    list_display = ["user", *LIMITS]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]


@admin.register(SsoGroupRule)
class SsoGroupRuleAdmin(RecordedAdminMixin, admin.ModelAdmin):
    """Only superusers edit the rules (no role holds their permissions): a rule can make operators
    and global auditors, so whoever edits them could otherwise grant themselves more."""

    list_display = ["group", "team", "role", "operator", "global_auditor", "created_at"]
    list_filter = ["operator", "global_auditor", "role"]
    search_fields = ["group", "team__slug"]
    autocomplete_fields = ["team"]


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Made by the first sign-in; read here, never edited (the subject is who the person is)."""

    list_display = ["user", "issuer", "subject", "groups", "last_sign_in_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "groups", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
