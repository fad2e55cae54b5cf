"""Ollama's model management under /ollama/ — pull, create, push, copy, delete, blobs — for the
people allowed to change what the backends hold (operators: `gateway.manage_models`). Everyone else
gets a 403 in Ollama's shape that says why; Open WebUI's and `ollama`'s model screens show it."""

import json

from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.response import Response

from accounts.roles import MANAGE_MODELS
from common.errors import ActionForbidden, InvalidRequest
from gateway.api.ollama import requests as ollama_requests
from gateway.api.ollama.views import OllamaView
from gateway.backends.models_admin import STATUS_KEY, blob_exists, model_change, model_progress


class ModelAdminView(OllamaView):
    operation = ""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not request.user.has_perm(MANAGE_MODELS):
            raise ActionForbidden(
                f"{self.operation or 'managing'} models on the backends is for Corral's operators "
                f"({MANAGE_MODELS}); ask one of them, or use the models Corral already serves"
            )

    def body(self) -> dict:
        data = self.request.data
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object")
        return ollama_requests.go_decoded(data)


def _line(progress: dict) -> bytes:
    progress = {key: value for key, value in progress.items() if key != STATUS_KEY}
    return json.dumps(progress, separators=(",", ":")).encode() + b"\n"


class ProgressView(ModelAdminView):
    """pull, create, push: progress lines as each backend sends them, then success."""

    def post(self, request):
        body = self.body()
        lines = model_progress(actor=request.user, operation=self.operation, body=body)
        if body.get("stream", True) is not False:
            return StreamingHttpResponse(
                (_line(progress) for progress in lines), content_type="application/x-ndjson"
            )
        last = {}
        for progress in lines:
            last = progress
            if "error" in progress:
                return Response({"error": progress["error"]}, status=progress[STATUS_KEY])
        return Response({"status": last.get("status", "success")})


class ChangeView(ModelAdminView):
    """copy, delete: 200 when every backend did it, else the first failure in Ollama's shape."""

    def _change(self, request):
        outcomes = model_change(actor=request.user, operation=self.operation, body=self.body())
        failed = next((outcome for outcome in outcomes if not outcome.ok), None)
        if failed is not None:
            return Response(
                {"error": f"backend '{failed.backend}': {failed.error}"}, status=failed.status
            )
        return HttpResponse(status=200)

    def post(self, request):
        return self._change(request)

    def delete(self, request):
        return self._change(request)


class BlobView(ModelAdminView):
    operation = "uploading blobs for"

    def head(self, request, digest: str):
        return HttpResponse(status=200 if blob_exists(digest=digest) else 404)

    def post(self, request, digest: str):
        raise InvalidRequest(
            "Corral does not relay model files: upload the blob to each backend, or create the "
            "model from a registry name (FROM llama3.2)"
        )
