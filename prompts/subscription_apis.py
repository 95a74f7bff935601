"""`/api/v1/prompt-subscriptions`: which of the project's alerts channels (signed webhook, Slack)
receive its prompt change events (prompts/events.py). Reading needs `read`; replacing the list the
`prompts` scope, or an owner or admin (it decides where prompt changes are sent)."""
from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from observatory.openapi import required_body
from prompts import events
from prompts.apis import READ, WRITE, PromptApiBase, _body, _schema, actor_for
from prompts.models import EventKind
from prompts.services import PromptError
from tenancy.auth import project_for_request

_CHANNEL = inline_serializer("PromptEventChannel", {
    "id": serializers.IntegerField(), "name": serializers.CharField(), "kind": serializers.CharField(),
    "subscribed": serializers.BooleanField(),
    "kinds": serializers.ListField(child=serializers.CharField(), help_text="[] every kind")})
_LIST = inline_serializer("PromptEventChannels", {"data": serializers.ListField(child=_CHANNEL)})


class SubscriptionsApi(PromptApiBase):
    @_schema("prompts_subscriptions_list", "The project's webhook and Slack channels, and which receive prompt "
             "change events", statuses=READ, responses={200: _LIST})
    def get(self, request: Request) -> Response:
        return Response({"data": events.subscribable_channels(project_for_request(request).pk)})

    @_schema("prompts_subscriptions_set", "Choose the channels that receive prompt change events (replaces the list)",
             statuses=WRITE, responses={200: _LIST}, request={"application/json": required_body({
                 "type": "object", "required": ["channels"], "properties": {
                     "channels": {"type": "array", "items": {"type": "integer"}, "maxItems": 50},
                     "kinds": {"type": "array", "items": {"type": "string", "enum": list(EventKind.values)},
                               "description": "Only these kinds of events (default: every kind)"}}})})
    def put(self, request: Request) -> Response:
        project = project_for_request(request)
        actor = actor_for(request, project)
        if not actor.can_protect:
            raise PermissionDenied("Only owners and admins (or a key with the prompts scope) choose where prompt "
                                   "events go.")
        body = _body(request)
        channels, kinds = body.get("channels"), body.get("kinds") or []
        if not isinstance(channels, list) or len(channels) > 50 or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 < c < 2**63 for c in channels):
            raise PromptError(400, "invalid", "channels: a list of at most 50 channel ids", {"channels": "ids"})
        if not isinstance(kinds, list) or not all(k in EventKind.values for k in kinds):
            raise PromptError(400, "invalid", f"kinds: any of {', '.join(EventKind.values)}", {"kinds": "unknown"})
        known = {c["id"] for c in events.subscribable_channels(project.pk)}
        unknown = [c for c in channels if c not in known]
        if unknown:
            raise PromptError(400, "invalid", f"channels: {unknown[0]} is not a webhook or Slack channel of this "
                                              "project", {"channels": "unknown channel"})
        events.subscriptions_set(project_id=project.pk, channel_ids=list(dict.fromkeys(channels)),
                                 kinds=list(dict.fromkeys(kinds)), actor_label=actor.label)
        return Response({"data": events.subscribable_channels(project.pk)})
