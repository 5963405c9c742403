from django.http import HttpResponse
from django.urls import path

from .views import AccountBalanceApi, TransferCreateApi

urlpatterns = [
    path("api/health", lambda request: HttpResponse("ok")),  # what bench/stack.py waits for
    path("api/transactions", TransferCreateApi.as_view()),
    path("api/accounts/balance/<int:pk>", AccountBalanceApi.as_view()),
]
