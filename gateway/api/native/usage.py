from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.limits import limits_remaining, scopes_for
from audit.usage import usage_by_day_and_model
from common.errors import InvalidRequest
from gateway.api.base import RateLimitHeadersMixin


class DayUsageSerializer(serializers.Serializer):
    day = serializers.DateField()
    model = serializers.CharField()
    calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class LimitSerializer(serializers.Serializer):
    scope = serializers.CharField()
    requests_per_minute = serializers.IntegerField(allow_null=True)
    requests_this_minute = serializers.IntegerField()
    requests_remaining = serializers.IntegerField(allow_null=True)
    tokens_per_day = serializers.IntegerField(allow_null=True)
    tokens_today = serializers.IntegerField()
    tokens_remaining_today = serializers.IntegerField(allow_null=True)
    tokens_per_month = serializers.IntegerField(allow_null=True)
    tokens_this_month = serializers.IntegerField()
    tokens_remaining_this_month = serializers.IntegerField(allow_null=True)


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(limit - used, 0)


class UsageView(RateLimitHeadersMixin, APIView):
    @extend_schema(
        operation_id="usage",
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": 366},
                description="how many days, today included (1-366, default 30)",
            )
        ],
        responses=inline_serializer(
            "UsageReport",
            {"days": DayUsageSerializer(many=True), "limits": LimitSerializer(many=True)},
        ),
    )
    def get(self, request):
        raw_days = request.query_params.get("days", "30")
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= 366:
            raise InvalidRequest("days: must be a whole number from 1 to 366.")
        days = usage_by_day_and_model(user=request.user, days=int(raw_days))
        token = request.auth
        scopes = scopes_for(user=request.user, token=token, team=token.team if token else None)
        limits = [
            {
                **state.__dict__,
                "requests_remaining": _left(state.requests_per_minute, state.requests_this_minute),
                "tokens_remaining_today": _left(state.tokens_per_day, state.tokens_today),
                "tokens_remaining_this_month": _left(
                    state.tokens_per_month, state.tokens_this_month
                ),
            }
            for state in limits_remaining(scopes=scopes)
        ]
        return Response(
            {
                "days": DayUsageSerializer(days, many=True).data,
                "limits": LimitSerializer(limits, many=True).data,
            }
        )
