"""What the tests send to the transaction endpoints: URLs and request bodies."""

TRANSACTIONS = "/api/transactions"
FUNDING = "/api/transactions/system/initial-funds"


def reverse_url(transaction_id):
    return f"/api/transactions/{transaction_id}/reverse"


def transfer_body(source, target, amount="40.00", key="key-1"):
    return {"fromAccount": str(source.id), "toAccount": str(target.id), "amount": amount, "idempotencyKey": key}
