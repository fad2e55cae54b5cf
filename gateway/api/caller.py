from audit.models import AuditRecord
from common.request_info import client_ip, user_agent
from gateway.conversations.selectors import team_for_user_and_model
from gateway.pipeline import Caller


def caller_from_request(request, *, surface: str, model: str | None = None) -> Caller:
    """The pipeline's view of an authenticated DRF request. A token acts for its team; the web
    chat's session (no token) comes in by the `web` door, for the person's team that may use the
    model."""
    token = request.auth
    if token is None and model is not None:
        return Caller(
            user=request.user,
            surface=AuditRecord.Surface.WEB,
            team=team_for_user_and_model(user=request.user, model=model),
            client_ip=client_ip(request),
            user_agent=user_agent(request),
        )
    return Caller(
        user=request.user,
        surface=surface,
        team=token.team if token is not None else None,
        token=token,
        client_ip=client_ip(request),
        user_agent=user_agent(request),
    )
