"""Signing in with the company's OpenID Connect provider: the provider's discovery document
(discovery), the ID token's checks (backend), who the person is and what their groups give them
(services), and the pages of the flow (views)."""
