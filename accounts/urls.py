from django.urls import path

from . import apis

urlpatterns = [
    path("accounts", apis.AccountListCreateApi.as_view(), name="account-list"),
    path("accounts/balance/<uuid:account_id>", apis.AccountBalanceApi.as_view(), name="account-balance"),
    path("accounts/<uuid:account_id>/limits", apis.AccountLimitsApi.as_view(), name="account-limits"),
    path("accounts/<uuid:account_id>", apis.AccountDetailApi.as_view(), name="account-detail"),
]
