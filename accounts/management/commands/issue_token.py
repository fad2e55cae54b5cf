from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.services import (
    membership_ensure,
    team_get_or_create,
    token_issue,
    user_create,
    user_make_staff,
)
from common.errors import GatewayError


class Command(BaseCommand):
    help = "Issue an API token for a user and print only the token."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user if missing")
        parser.add_argument("--team", help="team slug the token acts for (created if missing)")
        parser.add_argument("--staff", action="store_true", help="make the user staff")
        parser.add_argument("--name", default="cli", help="a name for the token")

    def handle(self, *args, username, create_user, team, staff, name, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"no user '{username}' (add --create-user to create it)")
            user = user_create(username=username, is_staff=staff)
        elif staff:
            user_make_staff(user=user)
        team_obj = None
        if team:
            team_obj = team_get_or_create(slug=team)
            membership_ensure(team=team_obj, user=user)
        try:
            _, secret = token_issue(user=user, name=name, team=team_obj)
        except GatewayError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(secret)
        if not user.has_usable_password():
            # (stderr: stdout stays only the token, for scripts)
            self.stderr.write(
                f"{username} has no password, so cannot sign in to the web chat yet; to give one: "
                f"python manage.py changepassword {username}"
            )
