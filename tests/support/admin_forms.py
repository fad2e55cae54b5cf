"""The admin's team page as a browser posts it: the team's fields and every membership row (the
inline formset), with rows added or marked for deletion."""

from accounts.models import Team


def team_form(team: Team, *, extra_rows=(), delete_user=None, **changes) -> dict:
    """`extra_rows`: (user, role) pairs to add; `delete_user`: a member's username to remove."""
    data = {
        "slug": team.slug,
        "name": team.name,
        "allowed_routes": [route.pk for route in team.allowed_routes.all()],
        "capture_content": "unknown",
        "requests_per_minute": team.requests_per_minute or "",
        "tokens_per_day": team.tokens_per_day or "",
        "tokens_per_month": team.tokens_per_month or "",
    }
    if team.all_models:
        data["all_models"] = "on"
    data.update(changes)
    rows = list(team.memberships.select_related("user").order_by("pk"))
    for index, membership in enumerate(rows):
        prefix = f"memberships-{index}-"
        data |= {
            f"{prefix}id": membership.pk,
            f"{prefix}team": team.pk,
            f"{prefix}user": membership.user_id,
            f"{prefix}role": membership.role,
        }
        if membership.user.username == delete_user:
            data[f"{prefix}DELETE"] = "on"
    for offset, (user, role) in enumerate(extra_rows):
        prefix = f"memberships-{len(rows) + offset}-"
        data |= {f"{prefix}team": team.pk, f"{prefix}user": user.pk, f"{prefix}role": role}
    data |= {
        "memberships-TOTAL_FORMS": len(rows) + len(extra_rows),
        "memberships-INITIAL_FORMS": len(rows),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    return data
