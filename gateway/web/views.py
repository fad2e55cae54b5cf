"""Server-rendered pages for people: models, API tokens, usage (the chat comes on top of these)."""

import json
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.limits import limits_remaining, resets_at, scopes_for
from accounts.models import Team
from accounts.selectors import (
    sso_identity_for,
    token_get_for_user,
    token_list_for_user,
    user_may_enter_admin,
)
from accounts.services import token_issue, token_revoke
from accounts.sso.views import sign_in_context
from audit.selectors import audit_record_get_for_user
from audit.usage import usage_by_day_and_model
from common.errors import GatewayError
from gateway.conversations.markdown import render_markdown
from gateway.selectors import route_list_for_team
from gateway.web.forms import TokenCreateForm

USAGE_DAYS = 30


def page_context(request, section: str, **context) -> dict:
    """What every signed-in page's frame needs (the nav's current section, the admin link)."""
    return {
        "section": section,
        "show_admin_link": user_may_enter_admin(user=request.user),
        **context,
    }


def _page(request, template: str, section: str, **context):
    return render(request, template, page_context(request, section, **context))


@cache_control(max_age=86400, public=True)
def favicon(request):
    """What browsers ask for on pages that name no icon (the API docs, JSON opened in a tab)."""
    return redirect(static("corral/favicon.svg"))


@login_required
def models(request):
    teams = list(Team.objects.filter(memberships__user=request.user).order_by("slug"))
    listing = [(team, list(route_list_for_team(team=team))) for team in teams] or [
        (None, list(route_list_for_team(team=None)))
    ]
    example = next((routes[0].name for _, routes in listing if routes), "llama3.2")
    return _page(request, "web/models.html", "models", teams=listing, example_model=example)


# A new secret is shown once, on the page the creation redirects to; the session holds it for
# that one request only (the redirect keeps a reload from creating a second token).
_NEW_TOKEN_SESSION_KEY = "corral_new_token"  # noqa: S105 (a session key, not a secret)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def tokens(request):
    if request.method == "POST":
        form = TokenCreateForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                token, secret = token_issue(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    team=form.cleaned_data["team"],
                    expires_at=form.expires_at(),
                    actor=request.user,
                )
            except GatewayError as exc:
                form.add_error("team", exc.message)
            else:
                request.session[_NEW_TOKEN_SESSION_KEY] = {"name": token.name, "secret": secret}
                return redirect("web-tokens")
    else:
        form = TokenCreateForm(user=request.user)
    return _page(
        request,
        "web/tokens.html",
        "tokens",
        form=form,
        tokens=token_list_for_user(user=request.user),
        new_token=request.session.pop(_NEW_TOKEN_SESSION_KEY, None),
        sso_identity=sso_identity_for(user=request.user) if settings.CORRAL_SSO_ENABLED else None,
        **sign_in_context(),
    )


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke_confirm(request, token_id: int):
    """Revoking stops every program using the token at once: it is asked for, then done."""
    try:
        token = token_get_for_user(user=request.user, token_id=token_id)
    except GatewayError:
        raise Http404("no such token") from None  # someone else's token looks missing
    if request.method == "POST" and token.revoked_at is None:
        token_revoke(token=token, actor=request.user)
        messages.success(request, f"Token “{token.name}” is revoked.")
        return redirect("web-tokens")
    if token.revoked_at is not None:
        return redirect("web-tokens")
    return _page(request, "web/token_revoke.html", "tokens", token=token)


@login_required
@require_GET
def record(request, call_id):
    """A call's audit record as a page, for whoever may read it (its owner, their team's auditors,
    global auditors); the same record as JSON stays at /api/v1/calls/<id>."""
    try:
        shown = audit_record_get_for_user(user=request.user, record_id=call_id)
    except GatewayError:
        raise Http404("no such record") from None
    return _page(
        request,
        "web/record.html",
        "usage",
        record=shown,
        completion_html=render_markdown(shown.completion),
        pretty=[
            (label, json.dumps(value, indent=2, ensure_ascii=False))
            for label, value in (
                ("Tool calls", shown.tool_calls),
                ("Tools offered", shown.tools),
                ("Options", shown.options),
                ("Requested format", shown.request_format),
                ("Metadata", shown.metadata),
            )
            if value
        ],
    )


def _limit_rows(state) -> list[dict]:
    now = datetime.now(UTC)
    rows = []
    for what, used, limit, resets in (
        ("Requests this minute", state.requests_this_minute, state.requests_per_minute, None),
        ("Tokens today", state.tokens_today, state.tokens_per_day, resets_at("day", now)),
        (
            "Tokens this month",
            state.tokens_this_month,
            state.tokens_per_month,
            resets_at("month", now),
        ),
    ):
        if limit is None:
            continue
        percent = used * 100 // max(limit, 1)
        rows.append(
            {
                "what": what,
                "used": used,
                "limit": limit,
                "percent": min(100, percent),
                # a quota is checked before a call and settled after it: one call may overshoot it
                "level": "over" if used >= limit else "near" if percent >= 80 else "",
                "resets": resets,
            }
        )
    return rows


@login_required
def usage(request):
    rows = usage_by_day_and_model(user=request.user, days=USAGE_DAYS)
    scopes = {}
    for team in Team.objects.filter(memberships__user=request.user).order_by("slug"):
        for scope in scopes_for(user=request.user, token=None, team=team):
            scopes[scope.name] = (scope, "You" if scope.kind == "user" else f"Team {team.slug}")
    if not scopes:
        for scope in scopes_for(user=request.user, token=None, team=None):
            scopes[scope.name] = (scope, "You")
    limits, unavailable = [], False
    try:
        states = limits_remaining(scopes=[scope for scope, _ in scopes.values()])
    except GatewayError:
        states, unavailable = [], True
    for (_, label), state in zip(scopes.values(), states, strict=False):
        rows_for_scope = _limit_rows(state)
        if rows_for_scope:
            limits.append({"label": label, "rows": rows_for_scope})
    return _page(
        request,
        "web/usage.html",
        "usage",
        rows=rows,
        days=USAGE_DAYS,
        limits=limits,
        limits_unavailable=unavailable,
    )


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a sign-in while its username and address are locked out."""
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}
    return render(request, "registration/locked_out.html", context, status=429)
