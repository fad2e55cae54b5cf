"""The chat: conversations in a sidebar, the thread, and a composer that streams answers from the
native API (session + CSRF). These views only read and keep conversations; calls go through the API."""

import base64
from functools import wraps

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from common.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    RequestTooLarge,
    Unauthenticated,
    UpstreamUnavailable,
)
from common.http import wants_json
from gateway.conversations.markdown import render_markdown
from gateway.conversations.selectors import (
    conversation_export,
    conversation_get_for_user,
    conversation_list_for_user,
    conversation_messages,
    model_cards_for_user,
)
from gateway.conversations.services import (
    conversation_create,
    conversation_delete,
    conversation_show_version,
    conversation_stop_request,
    conversation_update,
    history_for_model,
)
from gateway.models import ChatMessage, Conversation
from gateway.services import routes_bootstrap
from gateway.web.display import PLAIN_ERRORS, grouped_by_date, messages_for_display, with_snippets
from gateway.web.forms import ConversationRenameForm, ConversationSettingsForm
from gateway.web.views import page_context


def signed_in(view):
    """login_required for the chat's fetch calls: a session that ended answers 401 in the
    contract's shape (the chat then says so and keeps what was typed), not the sign-in page,
    which a fetch would follow and fail to read as JSON."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if wants_json(request):
            return _error(Unauthenticated("the session has ended"))
        return redirect_to_login(request.get_full_path())

    return wrapper


def _own(request, conversation_id) -> Conversation:
    try:
        return conversation_get_for_user(user=request.user, conversation_id=conversation_id)
    except NotFound:
        raise Http404("no such conversation") from None


def _thread_payload(conversation: Conversation, shown: list[ChatMessage]) -> dict:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "history": history_for_model(shown),
        "system_prompt": conversation.system_prompt,
        "temperature": conversation.temperature,
        "streaming": any(m.status == ChatMessage.Status.STREAMING for m in shown),
    }


@login_required
@require_GET
def chat(request, conversation_id=None):
    conversation = _own(request, conversation_id) if conversation_id else None
    shown = conversation_messages(conversation=conversation) if conversation else []
    search = request.GET.get("q", "").strip()[:200]
    cards, no_models_because = model_cards_for_user(user=request.user), ""
    if not cards:
        # a first start before Ollama answered: import its models now, or say why there are none
        try:
            if routes_bootstrap():
                cards = model_cards_for_user(user=request.user)
        except UpstreamUnavailable as exc:
            no_models_because = exc.message
    models = [card["name"] for card in cards]
    recent = conversation_list_for_user(user=request.user).first()
    chosen = (conversation.model if conversation else "") or (recent.model if recent else "")
    settings_form = ConversationSettingsForm(
        initial={
            "system_prompt": conversation.system_prompt if conversation else "",
            "temperature": conversation.temperature if conversation else None,
        }
    )
    return render(
        request,
        "web/chat.html",
        page_context(
            request,
            "chat",
            conversation=conversation,
            conversation_groups=grouped_by_date(
                with_snippets(
                    conversation_list_for_user(user=request.user, search=search)[:200], search
                )
            ),
            search=search,
            models=models,
            model=chosen if chosen in models else (models[0] if models else ""),
            rows=messages_for_display(shown, request.user) if conversation else [],
            thread=_thread_payload(conversation, shown) if conversation else None,
            settings_form=settings_form,
            plain_errors=PLAIN_ERRORS,
            model_cards={card["name"]: card for card in cards},
            max_request_bytes=settings.CORRAL_MAX_REQUEST_BYTES,
            no_models_because=no_models_because,
        ),
    )


@signed_in
@require_POST
def conversation_new(request):
    """Made by the first message of a new chat (fetch, JSON answer)."""
    form = ConversationSettingsForm(request.POST)
    if not form.is_valid():
        return _form_error(form)
    conversation = conversation_create(
        user=request.user,
        model=form.cleaned_data["model"],
        system_prompt=form.cleaned_data["system_prompt"],
        temperature=form.cleaned_data["temperature"],
    )
    return JsonResponse(
        {"id": str(conversation.id), "url": reverse("web-conversation", args=[conversation.id])},
        status=201,
    )


@signed_in
@require_GET
def conversation_thread(request, conversation_id):
    """The thread as the server renders it (sanitized Markdown), after each answer ends."""
    return _thread_response(request, _own(request, conversation_id))


def _thread_response(request, conversation: Conversation) -> JsonResponse:
    shown = conversation_messages(conversation=conversation)
    html = render_to_string(
        "web/_thread.html", {"rows": messages_for_display(shown, request.user)}, request=request
    )
    return JsonResponse({**_thread_payload(conversation, shown), "html": html})


@signed_in
@require_POST
def conversation_version(request, conversation_id):
    """Show another version of a turn ("2/3" with arrows): the thread comes back as /thread gives it."""
    conversation = _own(request, conversation_id)
    try:
        conversation_show_version(
            conversation=conversation, message_id=int(request.POST.get("message", ""))
        )
    except ValueError:
        return _error(NotFound("no such message in this conversation"))
    except NotFound as exc:
        return _error(exc)
    return _thread_response(request, conversation)


# The picture formats the chat shows, by their first bytes (what a browser would sniff): anything
# else a person attached is sent to the model but never served back as something to render.
_PICTURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _picture_type(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _PICTURES if data.startswith(magic)), None)


@login_required
@require_GET
def conversation_image(request, conversation_id, message_id: int, n: int):
    """An image the person attached to a question, as the thread shows it."""
    conversation = _own(request, conversation_id)
    message = conversation.messages.filter(id=message_id).only("images").first()
    if message is None or n >= len(message.images):
        raise Http404("no such image")
    data = base64.b64decode(message.images[n])
    kind = _picture_type(data)
    if kind is None:
        raise Http404("not a picture the chat shows")
    response = HttpResponse(data, content_type=kind)
    response["Cache-Control"] = (
        "private, max-age=86400, immutable"  # a message's images never change
    )
    return response


@login_required
@require_GET
def conversation_download(request, conversation_id, fmt: str):
    if fmt not in ("md", "json"):
        raise Http404("no such format")
    conversation = _own(request, conversation_id)
    text, content_type = conversation_export(conversation=conversation, fmt=fmt)
    response = HttpResponse(text, content_type=content_type)
    name = slugify(conversation.title)[:60] or "conversation"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


RENDER_LIMIT = 256 * 1024


@signed_in
@require_POST
def render_preview(request):
    """An answer still streaming, rendered as the finished one will be (the same Markdown and the
    same sanitizer on the server), so the chat shows formatting as it arrives."""
    text = request.POST.get("text", "")
    if len(text) > RENDER_LIMIT:
        return _error(RequestTooLarge("too much text to render"))
    return JsonResponse({"html": render_markdown(text)})


@signed_in
@require_POST
def conversation_stop(request, conversation_id):
    """The person's Stop: the answer being written ends where it is, in whichever process writes
    it (the chat no longer stops an answer by dropping its connection)."""
    conversation = _own(request, conversation_id)
    try:
        conversation_stop_request(conversation=conversation)
    except redis.RedisError:
        message = "Corral cannot pass the stop on right now; the answer finishes on its own."
        return JsonResponse({"error": {"code": "stop_unavailable", "message": message}}, status=503)
    return JsonResponse({"stopping": True}, status=202)


@signed_in
@require_POST
def conversation_settings(request, conversation_id):
    conversation = _own(request, conversation_id)
    form = ConversationSettingsForm(request.POST)
    if form.is_valid():
        conversation_update(
            conversation=conversation,
            system_prompt=form.cleaned_data["system_prompt"],
            temperature=form.cleaned_data["temperature"],
        )
        if wants_json(request):
            return JsonResponse({"saved": True})
        messages.success(request, "Settings saved for this conversation.")
    else:
        if wants_json(request):
            return _form_error(form)
        messages.error(request, "Temperature must be a number from 0 to 2.")
    return redirect("web-conversation", conversation.id)


def _error(error: GatewayError) -> JsonResponse:
    """An error in the contract's shape, for the chat's own fetch calls."""
    return JsonResponse(error.as_dict(), status=error.status)


def _form_error(form) -> JsonResponse:
    return _error(InvalidRequest(form.errors.as_text()))


@login_required
@require_POST
def conversation_rename(request, conversation_id):
    conversation = _own(request, conversation_id)
    form = ConversationRenameForm(request.POST)
    if form.is_valid():
        conversation_update(conversation=conversation, title=form.cleaned_data["title"])
    return redirect("web-conversation", conversation.id)


@login_required
@require_POST
def conversation_remove(request, conversation_id):
    conversation = _own(request, conversation_id)
    title = conversation.title
    conversation_delete(conversation=conversation)
    messages.success(request, f"Deleted “{title}”.")
    return redirect("web-chat")
