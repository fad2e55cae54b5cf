"""A real OpenID Connect provider on loopback for the single sign-on tests, built on Authlib's Flask
authorization server: discovery, JWKS, the authorization code flow with PKCE and nonce, UserInfo and
RP-initiated logout. The tests set its people and their groups, and can make it misbehave as a
broken or hostile provider would: sign with a key it does not publish, or issue an ID token that
has expired or was made for another client."""

import secrets
import threading
import time
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, render_template_string, request, session
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

KID = "loopback-1"
SIGN_IN_PAGE = """<!doctype html><title>Loopback identity provider</title>
<h1>Loopback identity provider</h1>
{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post">
  <label>Provider username <input name="username" autocomplete="off"></label>
  <label>Provider password <input name="password" type="password"></label>
  <button type="submit">Continue</button>
</form>"""

RETURN_PAGE = """<!doctype html><title>Loopback identity provider</title>
<a href="{{ back }}">Return to the application</a>"""


@dataclass
class Person:
    username: str
    password: str
    groups: list[str]
    sub: str = field(default_factory=lambda: secrets.token_hex(8))
    email: str = ""
    given_name: str = ""
    family_name: str = ""


@dataclass
class Misbehaviour:
    rogue_key: bool = False  # sign ID tokens with a key the JWKS does not hold (same kid)
    id_token_age: int = 0  # seconds the ID token's iat and exp lie in the past
    audience: str = ""  # the aud of ID tokens, instead of the client's id
    userinfo_sub: str = ""  # UserInfo answers about this subject instead
    nonce: str = ""  # the ID token carries this nonce, not the one of the sign-in it answers
    # a page with a link back to the application instead of the redirect (a test reads the link,
    # to tamper with the answer or replay it elsewhere)
    hold_return: bool = False


class Client(ClientMixin):
    def __init__(self, client_id, client_secret, redirect_uris, post_logout_redirect_uris):
        self.client_id, self.client_secret = client_id, client_secret
        self.client_metadata = {
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris,
        }

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.client_metadata["redirect_uris"][0]

    def get_allowed_scope(self, scope):
        return " ".join(s for s in scope.split() if s in ("openid", "email", "profile", "groups"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.client_metadata["redirect_uris"]

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: Person
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))
    used: bool = False

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


@dataclass
class Token:
    access_token: str
    client: Client
    user: Person
    scope: str
    expires_at: float

    def check_client(self, client):
        return client.client_id == self.client.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int(self.expires_at - time.time())

    def is_expired(self):
        return time.time() > self.expires_at

    def is_revoked(self):
        return False

    def get_user(self):
        return self.user

    def get_client(self):
        return self.client


class Provider:
    def __init__(self) -> None:
        self.people: dict[str, Person] = {}
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.misbehave = Misbehaviour()
        self.ended_sessions: list[str] = []  # subjects whose session RP-initiated logout ended
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}, private=True)
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"})
        self._server = make_server("127.0.0.1", 0, self._app(), threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- what the tests set ---------------------------------------------------------------------

    def person(self, username: str, groups: list[str], password: str = "provider pass") -> Person:
        person = Person(
            username, password, list(groups), email=f"{username}@example.test",
            given_name=username.title(), family_name="Tester",
        )  # fmt: skip
        self.people[username] = person
        return person

    def client(self, client_id: str, secret: str, corral: str) -> None:
        self.clients[client_id] = Client(
            client_id, secret, [f"{corral}/sso/callback"], [f"{corral}/login/"]
        )

    def reset(self) -> None:
        self.people.clear()
        self.misbehave = Misbehaviour()
        self.ended_sessions.clear()

    def start(self) -> "Provider":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    # -- the provider ---------------------------------------------------------------------------

    def _id_token_extension(self) -> OpenIDCode:
        provider = self

        class IdToken(OpenIDCode):
            def exists_nonce(self, nonce, request):
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client):
                return provider.rogue_key if provider.misbehave.rogue_key else provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": KID}

            def get_client_claims(self, client):
                issued = int(time.time()) - provider.misbehave.id_token_age
                audience = provider.misbehave.audience or client.client_id
                return {"iss": provider.issuer, "aud": audience, "iat": issued, "exp": issued + 300}

            def generate_user_info(self, user, scope):
                return provider.user_info(user)

            def get_authorization_code_claims(self, authorization_code):
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.misbehave.nonce:
                    claims["nonce"] = provider.misbehave.nonce
                return claims

        return IdToken(require_nonce=True)

    def user_info(self, user: Person) -> UserInfo:
        return UserInfo(
            sub=user.sub, preferred_username=user.username, email=user.email,
            given_name=user.given_name, family_name=user.family_name, groups=list(user.groups),
        )  # fmt: skip

    def _app(self) -> Flask:
        provider = self
        app = Flask("loopback-oidc-provider")
        app.secret_key = secrets.token_hex(16)
        # Corral's cookies live on 127.0.0.1 too (cookies ignore ports): a name of its own
        app.config["SESSION_COOKIE_NAME"] = "loopback_provider_session"

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code, request):
                data = request.payload.data
                provider.codes[code] = Code(
                    code, request.client.client_id, request.payload.redirect_uri,
                    request.payload.scope, request.user, data.get("nonce"),
                    data.get("code_challenge"), data.get("code_challenge_method"),
                )  # fmt: skip

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                if found and found.client_id == client.client_id and not found.used:
                    return found
                return None

            def delete_authorization_code(self, authorization_code):
                authorization_code.used = True  # kept, so a replay is told apart from nonsense

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        def save_token(token, request):
            provider.tokens[token["access_token"]] = Token(
                token["access_token"], request.client, request.user, token["scope"],
                time.time() + token["expires_in"],
            )  # fmt: skip

        class Bearer(BearerTokenValidator):
            def authenticate_token(self, token_string):
                return provider.tokens.get(token_string)

        protector = ResourceProtector()
        protector.register_token_validator(Bearer())

        class UserInfoAnswer(UserInfoEndpoint):
            def get_issuer(self):
                return provider.issuer

            def generate_user_info(self, user, scope):
                info = provider.user_info(user)
                if provider.misbehave.userinfo_sub:
                    info["sub"] = provider.misbehave.userinfo_sub
                return info

        class EndSession(EndSessionEndpoint):
            def get_server_jwks(self):
                return KeySet([provider.key]).as_dict(private=False)

            def end_session(self, end_session_request):
                claims = end_session_request.id_token_claims or {}
                provider.ended_sessions.append(claims.get("sub", ""))
                session.clear()

        server = AuthorizationServer(app, query_client=provider.clients.get, save_token=save_token)
        server.register_grant(
            CodeGrant, [provider._id_token_extension(), CodeChallenge(required=True)]
        )
        server.register_endpoint(UserInfoAnswer(resource_protector=protector))
        server.register_endpoint(EndSession)

        @app.get("/.well-known/openid-configuration")
        def discovery():
            base = provider.issuer
            return {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/userinfo",
                "jwks_uri": f"{base}/jwks",
                "end_session_endpoint": f"{base}/logout",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic", "client_secret_post",
                ],
                "scopes_supported": ["openid", "email", "profile", "groups"],
            }  # fmt: skip

        @app.get("/jwks")
        def jwks():
            return KeySet([provider.key]).as_dict(private=False)

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize():
            error = ""
            if request.method == "POST":
                person = provider.people.get(request.form.get("username", ""))
                if person and secrets.compare_digest(person.password, request.form["password"]):
                    session["username"] = person.username
                else:
                    error = "Unknown username or wrong password."
            person = provider.people.get(session.get("username", ""))
            if person is None:
                return render_template_string(SIGN_IN_PAGE, error=error)
            try:
                grant = server.get_consent_grant(end_user=person)
            except OAuth2Error as refusal:
                return server.handle_error_response(None, refusal)
            answer = server.create_authorization_response(grant_user=person, grant=grant)
            if provider.misbehave.hold_return and answer.status_code == 302:
                return render_template_string(RETURN_PAGE, back=answer.headers["Location"])
            return answer

        @app.post("/token")
        def token():
            return server.create_token_response()

        @app.route("/userinfo", methods=["GET", "POST"])
        def userinfo():
            return server.create_endpoint_response("userinfo")

        @app.route("/logout", methods=["GET", "POST"])
        def logout():
            return server.create_endpoint_response("end_session") or (
                "<!doctype html><title>Signed out</title><p>Signed out of the provider.</p>"
            )

        @app.get("/favicon.ico")
        def favicon():
            return "", 204

        return app
