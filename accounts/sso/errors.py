class SignInRefused(Exception):
    """A single sign-on that must not let the person in: `code` for the admin action log, `message`
    for the person (what happened and what to do), `detail` for the log only."""

    def __init__(
        self, code: str, message: str, *, detail: str = "", status: int = 403, groups=None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.detail, self.status = code, message, detail, status
        self.groups = groups
        self.logged = False  # in the admin action log already (where the person was known)
