from datetime import timedelta

from django import forms
from django.utils import timezone

from accounts.models import Team

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. laptop, CI"})
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, empty_label="No team"
    )
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the user's own teams are offered, and only they validate. Someone in a team holds
        # only tokens acting for one of their teams; someone in none, only team-less tokens.
        teams = Team.objects.filter(memberships__user=user).order_by("slug")
        field = self.fields["team"]
        field.queryset = teams
        if teams.exists():
            # a token must act for one of them: the first is chosen (the only one, for most)
            field.required, field.empty_label = True, None
            field.initial = teams.first()
        else:
            field.widget = forms.HiddenInput()

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=int(days)) if days else None


class ConversationSettingsForm(forms.Form):
    model = forms.CharField(max_length=200, required=False)
    system_prompt = forms.CharField(
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. Answer briefly, in English."}),
    )
    temperature = forms.FloatField(
        required=False,
        min_value=0,
        max_value=2,
        widget=forms.NumberInput(attrs={"step": "0.1", "placeholder": "model default"}),
    )


class ConversationRenameForm(forms.Form):
    title = forms.CharField(max_length=200)
