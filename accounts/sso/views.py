"""The pages of single sign-on: the sign-in page with the provider's button, the start and the
provider's answer (mozilla-django-oidc's views, with endpoints from discovery and a clear page for
every refusal), and a sign-out that also ends the provider's session where it offers that."""

import contextlib
import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.selectors import sso_identity_for
from accounts.sso import CONNECT_SESSION_KEY
from accounts.sso.discovery import provider_metadata
from accounts.sso.errors import SignInRefused
from accounts.sso.services import sso_refusal_log

logger = logging.getLogger(__name__)


def sign_in_context() -> dict:
    return {
        "sso_enabled": settings.CORRAL_SSO_ENABLED,
        "sso_provider_name": settings.CORRAL_OIDC_PROVIDER_NAME,
        "password_sign_in": settings.CORRAL_PASSWORD_SIGN_IN,
    }


class SignInView(auth_views.LoginView):
    """The sign-in page: the provider's button when single sign-on is on, the password form unless
    it is switched off (then a posted password is refused, whatever it is)."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **sign_in_context()}

    def post(self, request, *args, **kwargs):
        if not settings.CORRAL_PASSWORD_SIGN_IN:
            return self.render_to_response(
                {**self.get_context_data(), "password_refused": True}, status=403
            )
        return super().post(request, *args, **kwargs)


def refused(request, refusal: SignInRefused, *, log: bool = True):
    if log:
        sso_refusal_log(refusal)
    logger.warning(
        "single sign-on refused (%s): %s", refusal.code, refusal.detail or refusal.message
    )
    return render(
        request,
        "registration/sso_refused.html",
        {"refusal": refusal, **sign_in_context()},
        status=refusal.status,
    )


class SignInStart(OIDCAuthenticationRequestView):
    """Sends the browser to the provider, with state, nonce and a PKCE challenge kept in the
    session."""

    @staticmethod
    def get_settings(attr, *args):
        if attr == "OIDC_OP_AUTHORIZATION_ENDPOINT":
            return ""  # from the discovery document, in dispatch
        return OIDCAuthenticationRequestView.get_settings(attr, *args)

    def dispatch(self, request, *args, **kwargs):
        if not settings.CORRAL_SSO_ENABLED:
            return refused(request, _OFF, log=False)
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except SignInRefused as refusal:
            return refused(request, refusal)
        return super().dispatch(request, *args, **kwargs)


class SignInCallback(OIDCAuthenticationCallbackView):
    """The provider's answer. The library checks state, nonce and the token; every way it can
    fail ends on a page that says what happened, logged with the reason."""

    def get(self, request):
        if not settings.CORRAL_SSO_ENABLED:
            return refused(request, _OFF, log=False)
        state = request.GET.get("state", "")
        if request.GET.get("error"):
            return refused(request, _provider_refused(request, state))
        if not request.GET.get("code") or state not in request.session.get("oidc_states", {}):
            # A sign-in this browser did not start, one already finished, or a state changed on
            # the way: the answer may be someone else's (a login CSRF), so it is not used.
            return refused(
                request,
                SignInRefused(
                    "bad_state",
                    "This answer from the identity provider does not belong to a sign-in started "
                    "in this browser, or was used already. Start the sign-in again.",
                    detail=f"state {state[:80]!r}",
                    status=400,
                ),
            )
        try:
            return super().get(request)
        except SignInRefused as refusal:
            return refused(request, refusal, log=not refusal.logged)
        except SuspiciousOperation as exc:
            return refused(request, _untrusted(str(exc)))
        except requests.RequestException as exc:
            return refused(request, _provider_said(exc))

    def login_success(self):
        response = super().login_success()
        self.request.session.set_expiry(round(settings.CORRAL_OIDC_SESSION_HOURS * 3600))
        return response

    def login_failure(self):
        return refused(
            self.request,
            SignInRefused(
                "not_signed_in",
                "The identity provider's answer did not sign anyone in. Start the sign-in again.",
                status=400,
            ),
        )


_OFF = SignInRefused(
    "sso_off",
    "Single sign-on is not set up on this Corral. Sign in with your password.",
    status=404,
)


def _provider_refused(request, state: str) -> SignInRefused:
    """The provider's error answer. Its words are shown only when it answers a sign-in this browser
    started: anyone can write a link to this page with words of their own."""
    error = request.GET["error"]
    started = request.session.get("oidc_states", {})
    if state in started:
        del started[state]
        request.session.modified = True
        said = request.GET.get("error_description") or error
        message = f"The identity provider did not sign you in: {said[:300]}"
    else:
        message = "The identity provider did not sign you in. Start the sign-in again."
    return SignInRefused("provider_refused", message, detail=error[:100])


def _untrusted(detail: str) -> SignInRefused:
    return SignInRefused(
        "untrusted_answer",
        "The identity provider's answer could not be trusted (it does not match this sign-in). "
        "Start the sign-in again; if it keeps happening, tell an administrator.",
        detail=detail,
        status=400,
    )


def _provider_said(exc: requests.RequestException) -> SignInRefused:
    response = getattr(exc, "response", None)
    error = ""
    if response is not None:
        with contextlib.suppress(ValueError, AttributeError):
            error = str(response.json().get("error", ""))
    if error in ("invalid_client", "unauthorized_client"):
        return SignInRefused(
            "client_refused",
            "The identity provider does not accept Corral's registration (its client id or "
            "secret). Tell an administrator.",
            detail=f"{response.status_code} {response.text[:300]}",
            status=502,
        )
    if response is not None and 400 <= response.status_code < 500:
        # invalid_grant: a code used already (a replay), expired, or not made for this sign-in
        return SignInRefused(
            "code_refused",
            "The identity provider refused to finish this sign-in (its code was used already or "
            "has expired). Start the sign-in again.",
            detail=f"{response.status_code} {response.text[:300]}",
            status=400,
        )
    return SignInRefused(
        "provider_unreachable",
        "Corral could not reach the identity provider. Try again in a minute.",
        detail=str(exc)[:300],
        status=502,
    )


class SignOutView(auth_views.LogoutView):
    """Ends the Corral session and, for a single sign-on, the provider's too (RP-initiated logout)
    when its discovery document names an end_session_endpoint."""

    def post(self, request, *args, **kwargs):
        id_token = request.session.get("oidc_id_token")
        response = super().post(request, *args, **kwargs)
        if not (settings.CORRAL_SSO_ENABLED and id_token):
            return response
        try:
            end_session = provider_metadata().get("end_session_endpoint")
        except SignInRefused:
            return response  # signed out of Corral; the provider cannot be reached to ask
        if not end_session:
            return response
        query = urlencode(
            {
                "id_token_hint": id_token,
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
            }
        )
        response["Location"] = f"{end_session}?{query}"
        return response


@login_required
@require_POST
def connect(request):
    """A person signed in with a password asks to sign in with the provider from now on: the
    provider sign-in that follows is tied to this account (its tokens and history stay)."""
    if not settings.CORRAL_SSO_ENABLED:
        raise Http404("single sign-on is not set up")
    if sso_identity_for(user=request.user) is not None:
        messages.info(request, "Your account already signs in with the identity provider.")
        return redirect("web-tokens")
    request.session[CONNECT_SESSION_KEY] = request.user.pk
    return redirect(f"{reverse('sso-start')}?{urlencode({'next': reverse('web-tokens')})}")
