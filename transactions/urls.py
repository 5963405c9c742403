from django.urls import path

from . import apis, hold_apis

urlpatterns = [
    path("transactions", apis.TransactionsApi.as_view(), name="transaction-list"),
    path("transactions/system/initial-funds", apis.FundingCreateApi.as_view(), name="transaction-funding"),
    path("transactions/batch", apis.BatchCreateApi.as_view(), name="transaction-batch"),
    path("transactions/batch/<uuid:batch_id>", apis.BatchDetailApi.as_view(), name="transaction-batch-detail"),
    path("transactions/<uuid:transaction_id>", apis.TransactionDetailApi.as_view(), name="transaction-detail"),
    path(
        "transactions/<uuid:transaction_id>/reverse", apis.TransactionReverseApi.as_view(), name="transaction-reverse"
    ),
    path("holds", hold_apis.HoldsApi.as_view(), name="hold-list"),
    path("holds/<uuid:hold_id>", hold_apis.HoldDetailApi.as_view(), name="hold-detail"),
    path("holds/<uuid:hold_id>/capture", hold_apis.HoldCaptureApi.as_view(), name="hold-capture"),
    path("holds/<uuid:hold_id>/void", hold_apis.HoldVoidApi.as_view(), name="hold-void"),
    path("accounts/<uuid:account_id>/entries", apis.AccountEntryListApi.as_view(), name="account-entries"),
    path("accounts/<uuid:account_id>/statement", apis.AccountStatementApi.as_view(), name="account-statement"),
]
