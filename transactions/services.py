import secrets

from django.db import transaction

from accounts.services import funding_accounts_ensure
from authn.models import User, normalize_email
from authn.services import user_create


def system_user_ensure(*, email: str, name: str, password: str | None = None) -> tuple[User, bool, str | None]:
    """Create or update a system user and its funding accounts; idempotent.

    Returns (user, created, generated_password). An existing user's password changes only when
    one is given; a new user without one gets a random password, returned once.
    """
    generated = None
    user = User.objects.filter(email=normalize_email(email)).first()
    created = user is None
    if created:
        if not password:
            password = generated = secrets.token_urlsafe(18)
        user = user_create(email=email, name=name, password=password, is_system=True)
    with transaction.atomic():
        if not created:
            user.is_system = True
            if password:
                user.set_password(password)
            user.save()
        funding_accounts_ensure(owner=user)
    return user, created, generated
