"""`GET /v1/models`, `GET /v1/models/{id}` and `POST /v1/embeddings`."""

import base64
import struct

from rest_framework.response import Response

from gateway.api.openai.base import OpenAIView
from gateway.api.openai.serializers import EmbeddingSerializer
from gateway.pipeline import embed
from gateway.selectors import route_get_for_team, route_list_for_team


def _model_entry(route) -> dict:
    return {
        "id": route.name,
        "object": "model",
        "created": int(route.created_at.timestamp()),
        "owned_by": "corral",
    }


class ModelsView(OpenAIView):
    def get(self, request):
        team = request.auth.team if request.auth is not None else None
        return Response(
            {"object": "list", "data": [_model_entry(r) for r in route_list_for_team(team=team)]}
        )


class ModelDetailView(OpenAIView):
    def get(self, request, model: str):
        team = request.auth.team if request.auth is not None else None
        return Response(_model_entry(route_get_for_team(team=team, model=model)))


class EmbeddingsView(OpenAIView):
    def post(self, request):
        body = self.validated(EmbeddingSerializer)
        embed_request, encoding = body["request"], body["encoding_format"]
        caller, meta = self.call()
        result = embed(caller=caller, request=embed_request, meta=meta)
        return Response(
            {
                "object": "list",
                "data": [
                    {
                        "object": "embedding",
                        "embedding": _encode_vector(vector, encoding),
                        "index": index,
                    }
                    for index, vector in enumerate(result.embeddings)
                ],
                "model": embed_request.model,
                "usage": {
                    "prompt_tokens": result.prompt_tokens,
                    "total_tokens": result.prompt_tokens,
                },
            }
        )


def _encode_vector(vector: list[float], encoding: str):
    if encoding == "float":
        return vector
    # OpenAI's base64 form: little-endian float32, which its SDK asks for by default.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
