from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import team_get_for_member, token_get_for_user, token_list_for_user
from accounts.services import token_issue, token_revoke
from gateway.api.base import RateLimitHeadersMixin
from gateway.api.fields import RejectUnknownFields, StrictCharField


class TokenOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    team = serializers.CharField(source="team.slug", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_used_ip = serializers.IPAddressField(allow_null=True)
    active = serializers.BooleanField(source="is_active")


class TokenCreatedSerializer(TokenOutputSerializer):
    token = serializers.CharField(help_text="The secret. It is shown here once and never again.")
    webhook_secret = serializers.CharField(
        help_text="Verifies the X-Corral-Signature of completion callbacks. Shown here once."
    )


class TokenInputSerializer(RejectUnknownFields, serializers.Serializer):
    name = StrictCharField(max_length=100)
    team = StrictCharField(
        required=False,
        max_length=64,
        help_text="slug of one of your teams; may be left out when you belong to one team only",
    )
    expires_at = serializers.DateTimeField(required=False)


class TokenListView(RateLimitHeadersMixin, APIView):
    @extend_schema(
        operation_id="tokens_list",
        responses=inline_serializer("TokenList", {"tokens": TokenOutputSerializer(many=True)}),
    )
    def get(self, request):
        tokens = token_list_for_user(user=request.user)
        return Response({"tokens": TokenOutputSerializer(tokens, many=True).data})

    @extend_schema(
        operation_id="tokens_create",
        request=TokenInputSerializer,
        responses={201: TokenCreatedSerializer},
    )
    def post(self, request):
        serializer = TokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_get_for_member(user=request.user, slug=data["team"]) if "team" in data else None
        # A token made with a token: at most its parent's team, expiry and limits.
        token, secret = token_issue(
            user=request.user,
            name=data["name"],
            team=team,
            expires_at=data.get("expires_at"),
            parent=request.auth,
            actor=request.user,
        )
        body = {
            **TokenOutputSerializer(token).data,
            "token": secret,
            "webhook_secret": token.webhook_secret,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailView(RateLimitHeadersMixin, APIView):
    @extend_schema(operation_id="tokens_revoke", responses={204: None})
    def delete(self, request, token_id: str):
        token = token_get_for_user(user=request.user, token_id=token_id)
        token_revoke(token=token, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
