from django.http import JsonResponse
from django.urls import path

from .views import AccountBalanceApi, TransferCreateApi

urlpatterns = [
    # What the launcher (tests/faults/processes.py) waits for; its client reads JSON.
    path("api/health", lambda request: JsonResponse({"status": "ok"})),
    path("api/transactions", TransferCreateApi.as_view()),
    path("api/accounts/balance/<int:pk>", AccountBalanceApi.as_view()),
]
