from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.api.base import RateLimitHeadersMixin
from gateway.selectors import route_list_for_team


class ModelOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    default_options = serializers.DictField()
    created_at = serializers.DateTimeField()


class ModelListView(RateLimitHeadersMixin, APIView):
    @extend_schema(
        operation_id="models_list",
        responses=inline_serializer("ModelList", {"models": ModelOutputSerializer(many=True)}),
    )
    def get(self, request):
        token = request.auth
        routes = route_list_for_team(team=token.team if token else None)
        return Response({"models": ModelOutputSerializer(routes, many=True).data})
