"""The floor's data, printed as the users file the wrk scripts read (a token, then that user's
accounts, one line per user):

    DJANGO_SETTINGS_MODULE=bench.floor.settings python -m bench.floor.seed <users> <accounts per user>
"""

import sys
from decimal import Decimal

import django

FUNDING = Decimal("100000.00")  # as the service's pool: far more than any run moves


def main(users: int, per_user: int) -> None:
    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from rest_framework_simplejwt.tokens import AccessToken

    from bench.floor.models import Account

    password = make_password(None)  # unusable: login is not measured
    people = User.objects.bulk_create(User(username=f"floor-{i:06d}", password=password) for i in range(users))
    accounts = Account.objects.bulk_create(
        Account(owner=user, balance=FUNDING) for user in people for _ in range(per_user)
    )
    for i, user in enumerate(people):
        print(AccessToken.for_user(user), *(account.id for account in accounts[i * per_user : (i + 1) * per_user]))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
