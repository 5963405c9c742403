import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.mail.message import sanitize_address
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

# CR/LF and other control characters would let a name inject headers into the emails we send.
no_control_characters = RegexValidator(r"^[^\x00-\x1f\x7f]*\Z", "Control characters are not allowed.")


def deliverable_email(value):
    """An address our mail backend can write as it is. Django's EmailValidator also passes control
    characters in a quoted local part (`"a\\x0bb"@example.com`) and Unicode domain labels too long
    once IDNA-encoded; the welcome email to either would fail on every retry, or go elsewhere."""
    no_control_characters(value)
    try:
        sanitize_address(value, "utf-8")  # what the SMTP backend does with every recipient
    except ValueError as exc:  # UnicodeError included
        raise ValidationError("Enter a valid email address.") from exc


def normalize_email(email):
    """Emails are compared and stored trimmed and lower-cased: one user per mailbox."""
    return (email or "").strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email=normalize_email(email))

    def create_user(self, email, password=None, **fields):
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person or the system. Email is the login, stored lower-cased, unique.

    `is_system` users may fund accounts and reverse transactions; they own the funding accounts
    through which money enters the ledger.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, validators=[no_control_characters])
    is_system = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="user_email_lower_case"),
        ]

    def __str__(self):
        return self.email


class BlacklistedToken(models.Model):
    """A JWT (access or refresh) that must be refused until it expires; `jti` is its id claim.

    Rows are useless once `expires_at` has passed (the token is refused as expired anyway) and are
    purged by `blacklist_purge_expired`.
    """

    jti = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.jti
