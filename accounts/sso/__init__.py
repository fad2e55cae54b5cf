"""Signing in with the company's OpenID Connect provider: the provider's discovery document
(discovery), the ID token's checks (backend), who the person is and what their groups give them
(services), and the pages of the flow (views).

The pages import no token library: PyJWT and cryptography load with the backend, which Django loads
only when single sign-on is on (about 9 MB in every process otherwise)."""

# set by the connect view for the account whose owner asked to connect it
CONNECT_SESSION_KEY = "corral_sso_connect"
