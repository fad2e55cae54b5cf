from django.conf import settings


def client_ip(request) -> str | None:
    """The caller's address; X-Forwarded-For is believed only behind a configured proxy."""
    meta = request.META
    if settings.CORRAL_TRUST_X_FORWARDED_FOR:
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return meta.get("REMOTE_ADDR") or None


def user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]
