"""The installation-wide roles, as Django groups: what each may do is the group's permissions, so
the admin's own permission checks enforce them and an identity provider's groups can map onto them.

Team roles (member, team admin, team auditor) are memberships, not groups: they reach one team only.
"""

GLOBAL_AUDITORS = "Global auditors"
OPERATORS = "Operators"

# The permission that makes a global auditor (superusers hold every permission).
READ_ALL_RECORDS = "audit.view_auditrecord"

# (app_label, model, actions)
_VIEW_ALL = ["view"]
_MANAGE = ["add", "change", "delete", "view"]
GROUP_PERMISSIONS: dict[str, list[tuple[str, str, list[str]]]] = {
    # Reads every audit record and every setting, changes nothing.
    GLOBAL_AUDITORS: [
        ("audit", "auditrecord", _VIEW_ALL),
        ("audit", "adminaction", _VIEW_ALL),
        ("audit", "auditcheckpoint", _VIEW_ALL),
        ("accounts", "team", _VIEW_ALL),
        ("accounts", "membership", _VIEW_ALL),
        ("accounts", "apitoken", _VIEW_ALL),
        ("accounts", "userlimits", _VIEW_ALL),
        ("gateway", "backend", _VIEW_ALL),
        ("gateway", "modelroute", _VIEW_ALL),
        ("gateway", "routetarget", _VIEW_ALL),
        ("gateway", "completion", _VIEW_ALL),
    ],
    # Runs the gateway: backends, routes, teams and their people, limits; revokes tokens. Reads no
    # prompt or answer: that is the auditors' role.
    OPERATORS: [
        ("accounts", "team", _MANAGE),
        ("accounts", "membership", _MANAGE),
        ("accounts", "apitoken", ["change", "view"]),
        ("accounts", "userlimits", _MANAGE),
        ("gateway", "backend", _MANAGE),
        ("gateway", "modelroute", _MANAGE),
        ("gateway", "routetarget", _MANAGE),
        ("gateway", "otlpbatch", _VIEW_ALL),
        ("audit", "adminaction", _VIEW_ALL),
        ("auth", "user", _VIEW_ALL),  # to find the people they add to teams
    ],
}
