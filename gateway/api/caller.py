from gateway.pipeline import Caller
from gateway.request_info import client_ip, user_agent


def caller_from_request(request, *, surface: str) -> Caller:
    """The pipeline's view of an authenticated DRF request."""
    token = request.auth
    return Caller(
        user=request.user,
        surface=surface,
        team=token.team if token is not None else None,
        token=token,
        client_ip=client_ip(request),
        user_agent=user_agent(request),
    )
