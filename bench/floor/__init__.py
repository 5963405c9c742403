"""floor: the framework's floor the service is measured against (issue 11, `make bench`).

A minimal Django + DRF + simplejwt app as a newcomer writes it, never tuned: it is the reference,
not a competitor, and no part of the product (it is in no INSTALLED_APPS of the service). It
answers the service's paths, so the same wrk scripts drive both: `POST /api/transactions` (a
DRF serializer validates, both rows are locked in id order, one insert, two updates) and
`GET /api/accounts/balance/<id>` (an authenticated read of one row).
"""
