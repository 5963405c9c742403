import factory
from django.contrib.auth.hashers import make_password

from accounts.models import Account
from authn.models import User

PASSWORD = "correct-horse-battery"
# Hashed once: Argon2 is deliberately slow and most tests only need a user that can log in.
_PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    password = _PASSWORD_HASH


class SystemUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"system{n}@ledger.local")
    is_system = True


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    owner = factory.SubFactory(UserFactory)
    currency = "INR"
