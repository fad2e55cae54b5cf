"""The installation-wide roles, as Django groups: what each may do is the group's permissions, so
the admin's own permission checks enforce them and an identity provider's groups can map onto them.

Team roles (member, team admin, team auditor) are memberships, not groups: they reach one team only.
"""

GLOBAL_AUDITORS = "Global auditors"
OPERATORS = "Operators"

# The permission that makes a global auditor (superusers hold every permission).
READ_ALL_RECORDS = "audit.view_auditrecord"

# Pulls, creates, copies, pushes and deletes models on the backends, through the Ollama door.
MANAGE_MODELS = "gateway.manage_models"

_VIEW_ALL = ["view"]
_MANAGE = ["add", "change", "delete", "view"]


def _on(app_label: str, model: str, actions: list[str]) -> list[tuple[str, str]]:
    return [(app_label, f"{action}_{model}") for action in actions]


# group -> (app_label, permission codename)
GROUP_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    # Reads every audit record and every setting, changes nothing.
    GLOBAL_AUDITORS: [
        *_on("audit", "auditrecord", _VIEW_ALL),
        *_on("audit", "adminaction", _VIEW_ALL),
        *_on("audit", "auditcheckpoint", _VIEW_ALL),
        *_on("accounts", "team", _VIEW_ALL),
        *_on("accounts", "membership", _VIEW_ALL),
        *_on("accounts", "apitoken", _VIEW_ALL),
        *_on("accounts", "userlimits", _VIEW_ALL),
        *_on("accounts", "ssogrouprule", _VIEW_ALL),
        *_on("accounts", "ssoidentity", _VIEW_ALL),
        *_on("gateway", "backend", _VIEW_ALL),
        *_on("gateway", "modelroute", _VIEW_ALL),
        *_on("gateway", "routetarget", _VIEW_ALL),
        *_on("gateway", "completion", _VIEW_ALL),
    ],
    # Runs the gateway: backends, routes and the models on them, teams and their people, limits;
    # revokes tokens. Reads no prompt or answer: that is the auditors' role.
    OPERATORS: [
        *_on("accounts", "team", _MANAGE),
        *_on("accounts", "membership", _MANAGE),
        *_on("accounts", "apitoken", ["change", "view"]),
        *_on("accounts", "userlimits", _MANAGE),
        *_on("gateway", "backend", _MANAGE),
        *_on("gateway", "modelroute", _MANAGE),
        *_on("gateway", "routetarget", _MANAGE),
        *_on("gateway", "otlpbatch", _VIEW_ALL),
        ("gateway", MANAGE_MODELS.split(".", 1)[1]),
        *_on("audit", "adminaction", _VIEW_ALL),
        *_on("auth", "user", _VIEW_ALL),  # to find the people they add to teams
    ],
}
