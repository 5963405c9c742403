from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger_project.exceptions import InvalidInputError
from ledger_project.pagination import KeysetPagination

from . import serializers as s
from .exceptions import EventNotFoundError
from .selectors import event_get, event_list

UNKNOWN_AFTER = "Not one of your events (or older than the retention window): list without `after` to start over."


class EventPagination(KeysetPagination):
    ordering = ("-created_at", "-id")
    items_key = "events"


class EventListApi(APIView):
    pagination_class = EventPagination

    @extend_schema(parameters=[s.EventFilterSerializer], responses={200: s.EventOutputSerializer(many=True)})
    def get(self, request):
        # A plain dict, not the QueryDict (as transactions.apis.filtered_page_response).
        filters = s.EventFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        after = None
        if "after" in filters.validated_data:
            # A 400, not a 404: the route exists and the list is the caller's; the parameter is
            # wrong. Unknown and another user's ids answer alike, so nothing tells them apart.
            try:
                after = event_get(user=request.user, event_id=filters.validated_data["after"])
            except EventNotFoundError as exc:
                raise InvalidInputError(errors={"after": [UNKNOWN_AFTER]}) from exc
        queryset = event_list(user=request.user, type=filters.validated_data.get("type"), after=after)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.EventOutputSerializer(page, many=True).data)


class EventDetailApi(APIView):
    @extend_schema(responses={200: s.EventWrapperSerializer})
    def get(self, request, event_id):
        event = event_get(user=request.user, event_id=event_id)
        return Response({"event": s.EventOutputSerializer(event).data})
