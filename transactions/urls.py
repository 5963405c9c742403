from django.urls import path

from . import apis

urlpatterns = [
    path("transactions", apis.TransactionsApi.as_view(), name="transaction-list"),
    path("transactions/system/initial-funds", apis.FundingCreateApi.as_view(), name="transaction-funding"),
    path("transactions/<uuid:transaction_id>", apis.TransactionDetailApi.as_view(), name="transaction-detail"),
    path(
        "transactions/<uuid:transaction_id>/reverse", apis.TransactionReverseApi.as_view(), name="transaction-reverse"
    ),
    path("accounts/<uuid:account_id>/entries", apis.AccountEntryListApi.as_view(), name="account-entries"),
]
