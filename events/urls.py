from django.urls import path

from . import apis

urlpatterns = [
    path("events", apis.EventListApi.as_view(), name="event-list"),
    path("events/<uuid:event_id>", apis.EventDetailApi.as_view(), name="event-detail"),
]
