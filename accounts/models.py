from django.conf import settings
from django.db import models
from django.utils import timezone


def default_all_models() -> bool:
    return settings.CORRAL_MODEL_ACCESS_DEFAULT == "all"


LIMIT_FIELDS = ("requests_per_minute", "tokens_per_day", "tokens_per_month")


class Limits(models.Model):
    """Rate limit and token quotas; empty means no limit at this level."""

    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_per_month = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class Team(Limits):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    all_models = models.BooleanField(
        default=default_all_models,
        help_text="May use every enabled model; when off, only the allowed models below.",
    )
    allowed_routes = models.ManyToManyField(
        "gateway.ModelRoute", blank=True, related_name="teams", verbose_name="allowed models"
    )
    capture_content = models.BooleanField(
        null=True,
        blank=True,
        help_text="Prompt and completion text on this team's spans; empty follows the global switch "
        "(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT).",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Team admin"
        AUDITOR = "auditor", "Auditor"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ApiToken(Limits):
    """A personal API token. Only a SHA-256 of the secret is stored; the prefix is its public id."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_tokens",
        help_text="The team this token acts for: its models and its quota.",
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="children",
        help_text="The token this one was made with: its team, expiry and limits bound this one.",
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    webhook_secret = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="signs the callbacks of this token's asynchronous completions (HMAC-SHA256)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class UserLimits(Limits):
    """Limits for one person, across all their tokens and teams."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="limits"
    )

    class Meta:
        verbose_name_plural = "user limits"

    def __str__(self) -> str:
        return f"limits of {self.user}"


class SsoIdentity(models.Model):
    """The person an identity provider's subject is in Corral. Matched by issuer and subject only,
    never by an e-mail address: an address changed at the provider cannot take over an account."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True, help_text="as seen at the last sign-in")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="sso_identity_unique_subject"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.subject} at {self.issuer})"


class SsoGroupRule(models.Model):
    """What the people in a group at the identity provider get in Corral, applied at every sign-in.
    A team named by any rule follows the groups for everyone who signs in that way: a person no
    longer in a group that gives it loses it. Operators and global auditors likewise, once a rule
    grants them. Superusers are never changed by the rules."""

    group = models.CharField(max_length=255, help_text="the group's name as the provider sends it")
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="sso_rules"
    )
    role = models.CharField(
        max_length=16,
        choices=Membership.Role.choices,
        blank=True,
        help_text="the role in the team (with a team only)",
    )
    operator = models.BooleanField(default=False, help_text="staff, in the Operators group")
    global_auditor = models.BooleanField(default=False, help_text="reads every audit record")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "team__slug"]
        verbose_name = "single sign-on group rule"
        constraints = [
            models.UniqueConstraint(fields=["group", "team"], name="sso_rule_unique_group_team"),
            models.CheckConstraint(
                condition=(models.Q(team__isnull=True) & models.Q(role=""))
                | (models.Q(team__isnull=False) & ~models.Q(role="")),
                name="sso_rule_team_has_role",
            ),
            models.CheckConstraint(
                condition=models.Q(team__isnull=False)
                | models.Q(operator=True)
                | models.Q(global_auditor=True),
                name="sso_rule_grants_something",
            ),
        ]

    def __str__(self) -> str:
        grants = [f"{self.role} of {self.team}"] if self.team_id else []
        grants += ["operator"] * self.operator + ["global auditor"] * self.global_auditor
        return f"{self.group} → {', '.join(grants)}"
