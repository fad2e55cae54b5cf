"""Reads for the web chat: a person's conversations and the models they may pick."""

import json
from collections import defaultdict

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery

from accounts.models import Team
from common.errors import GatewayError, NotFound
from gateway.catalog import model_show
from gateway.models import ChatMessage, Conversation, ModelRoute
from gateway.selectors import model_name_candidates, route_list_for_team


def conversation_list_for_user(*, user, search: str = "") -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(user=user).only(
        "id", "title", "model", "updated_at"
    )
    if search:
        # a word in a question or an answer finds its chat too, shown with where it was said
        said = ChatMessage.objects.filter(
            conversation=OuterRef("pk"), content__icontains=search
        ).order_by("id")
        conversations = conversations.annotate(match=Subquery(said.values("content")[:1])).filter(
            Q(title__icontains=search) | Q(match__isnull=False)
        )
    return conversations.order_by("-updated_at")


def search_snippet(text: str, term: str, width: int = 40) -> str:
    """The part of `text` around the first place `term` occurs, for a search result."""
    at = text.lower().find(term.lower())
    if at < 0:
        return ""
    start, end = max(0, at - width), min(len(text), at + len(term) + width)
    snippet = " ".join(text[start:end].split())
    return f"{'…' if start else ''}{snippet}{'…' if end < len(text) else ''}"


def conversation_get_for_user(*, user, conversation_id) -> Conversation:
    """The person's own conversation, or the contract's 404 (another person's looks missing)."""
    try:
        return Conversation.objects.get(id=conversation_id, user=user)
    except (Conversation.DoesNotExist, ValidationError):  # ValidationError: not a UUID
        raise NotFound("no such conversation") from None


def _tree(conversation: Conversation) -> tuple[dict, dict, dict]:
    """(each message's parent, each parent's children in the order they were written, when each
    message was last shown)."""
    rows = conversation.messages.order_by("id").values_list("id", "parent_id", "shown_at")
    parent_of, children, shown_at = {}, defaultdict(list), {}
    for message_id, parent_id, at in rows:
        parent_of[message_id] = parent_id
        children[parent_id].append(message_id)
        shown_at[message_id] = at
    return parent_of, children, shown_at


def _path_to(message_id: int | None, parent_of: dict) -> list[int]:
    path = []
    while message_id is not None:
        path.append(message_id)
        message_id = parent_of[message_id]
    return path[::-1]


def conversation_messages(*, conversation: Conversation) -> list[ChatMessage]:
    """The branch the person sees, from the first question to the conversation's head. Each
    message carries `versions`: the ids of the messages written for the same turn (an edited
    question, a regenerated answer), oldest first, itself among them."""
    parent_of, children, _ = _tree(conversation)
    if not parent_of:
        return []
    head = conversation.head_id if conversation.head_id in parent_of else max(parent_of)
    path = _path_to(head, parent_of)
    loaded = conversation.messages.in_bulk(path)
    shown = [loaded[message_id] for message_id in path]
    for message in shown:
        message.versions = children[message.parent_id]
    return shown


def branch_through(*, conversation: Conversation, message_id: int) -> list[int]:
    """The branch shown when a person picks this message's version: from the first question down
    through it, then below it each turn's version shown last (the newest where none was), as
    they left it. Raises NotFound for a message not in the conversation."""
    parent_of, children, shown_at = _tree(conversation)
    if message_id not in parent_of:
        raise NotFound("no such message in this conversation")
    path = _path_to(message_id, parent_of)
    while children.get(path[-1]):
        path.append(max(children[path[-1]], key=lambda child: (shown_at[child], child)))
    return path


def user_teams(*, user) -> list[Team]:
    return list(Team.objects.filter(memberships__user=user).order_by("slug").distinct())


def model_names_for_user(*, user) -> list[str]:
    """Every model one of the person's teams may use (a person without a team: the default)."""
    teams = user_teams(user=user) or [None]
    names: set[str] = set()
    for team in teams:
        names.update(route_list_for_team(team=team).values_list("name", flat=True))
    return sorted(names)


MODEL_CARD_SECONDS = 300
MODEL_CARD_RETRY_SECONDS = 30


def _model_card(route: ModelRoute) -> dict:
    """What Ollama's /api/show says of a route's model, as the picker shows it (kept a few minutes:
    a chat page must not wait on every backend each time). A model that cannot be asked now is
    shown all the same, with nothing known about it."""
    key = f"corral:model-card:{route.pk}:{route.updated_at.timestamp() if route.updated_at else 0}"
    card = cache.get(key)
    if card is None:
        try:
            shown = model_show(route)
        except GatewayError:
            card = {"name": route.name, "known": False}
            cache.set(
                key, card, MODEL_CARD_RETRY_SECONDS
            )  # a backend that is down is asked again soon
            return card
        details = shown.get("details") or {}
        info = shown.get("model_info") or {}
        family = details.get("family") or info.get("general.architecture") or ""
        card = {
            "name": route.name,
            "known": True,
            "family": family,
            "parameter_size": details.get("parameter_size") or "",
            "quantization": details.get("quantization_level") or "",
            "context_length": info.get(f"{family}.context_length"),
            "capabilities": list(shown.get("capabilities") or []),
        }
        cache.set(key, card, MODEL_CARD_SECONDS)
    return card


def model_cards_for_user(*, user) -> list[dict]:
    """The models the person may chat with, with what Ollama says of each; models that only
    embed (Ollama lists no "completion" capability) are left out of the chat."""
    names = model_names_for_user(user=user)
    routes = ModelRoute.objects.filter(name__in=names).prefetch_related("targets__backend")
    cards = [_model_card(route) for route in sorted(routes, key=lambda r: r.name)]
    return [
        card
        for card in cards
        if not card.get("capabilities") or "completion" in card["capabilities"]
    ]


def team_for_user_and_model(*, user, model: str) -> Team | None:
    """The team a web call acts for: the first of the person's teams that may use the model
    (or their first team, so the refusal names one; None for a person without a team)."""
    teams = user_teams(user=user)
    for team in teams:
        if route_list_for_team(team=team).filter(name__in=model_name_candidates(model)).exists():
            return team
    return teams[0] if teams else None


def conversation_export(*, conversation: Conversation, fmt: str) -> tuple[str, str]:
    """The branch shown, as a file the person keeps: (its text, its content type). Markdown reads
    like the chat; JSON holds every field, the images as sent, each answer's audit record id."""
    messages = conversation_messages(conversation=conversation)
    if fmt == "json":
        data = {
            "id": str(conversation.id),
            "title": conversation.title,
            "model": conversation.model,
            "system_prompt": conversation.system_prompt,
            "temperature": conversation.temperature,
            "created_at": conversation.created_at.isoformat(),
            "messages": [
                {
                    "role": message.role,
                    "content": message.content,
                    "images": message.images,
                    "model": message.model,
                    "status": message.status,
                    "created_at": message.created_at.isoformat(),
                    "audit_record_id": str(message.audit_record_id or "") or None,
                }
                for message in messages
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False), "application/json"
    lines = [f"# {conversation.title}", ""]
    if conversation.system_prompt:
        lines += [f"> System prompt: {conversation.system_prompt}", ""]
    for message in messages:
        who = "You" if message.role == ChatMessage.Role.USER else (message.model or "Assistant")
        note = "" if message.status == ChatMessage.Status.COMPLETE else f" ({message.status})"
        if message.images:
            note += f" ({len(message.images)} image{'s' if len(message.images) > 1 else ''})"
        lines += [f"## {who}{note}", "", message.content, ""]
    return "\n".join(lines), "text/markdown; charset=utf-8"
