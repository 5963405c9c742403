import unicodedata
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.encoding import punycode
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

# CR/LF and other control characters would let a name inject headers into the emails we send.
no_control_characters = RegexValidator(r"^[^\x00-\x1f\x7f]*\Z", "Control characters are not allowed.")

# email-validator refuses special-use domains unless removed from its list (its documented way).
# `.local` names the operators' own addresses (system@ledger.local); localhost, test, invalid,
# onion and arpa stay refused.
if "local" in SPECIAL_USE_DOMAIN_NAMES:
    SPECIAL_USE_DOMAIN_NAMES.remove("local")

EMAIL_INVALID = "Enter a valid email address."
EMAIL_AMBIGUOUS = "This address has letters that mail systems may read as others (such as ſ, ß or full-width letters)."


def normalize_email(email) -> str:
    """The one spelling under which an address is stored, looked up and unique: one user per mailbox.

    email-validator refuses invisible and separator characters and gives the domain its UTS 46
    form (lower case; `xn--bcher-kva` and `Bücher` are both `bücher`). The local part is
    lower-cased, as it always was. Raises ValidationError for anything else:
    - a local part that full case folding or compatibility mapping would change beyond that (ſ is
      s, ß is ss, ｓ is s to some mail servers): two users could otherwise share one mailbox;
    - a domain that Django's IDNA 2003 encoding, used when the email is sent, would spell
      differently (straße becomes strasse): its mail would go to another domain.
    """
    try:
        address = validate_email((email or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(EMAIL_INVALID, code="invalid") from exc
    local = address.local_part.lower()
    if unicodedata.normalize("NFKC", local).casefold() != local:
        raise ValidationError(EMAIL_AMBIGUOUS, code="ambiguous")
    try:
        sent_as = punycode(address.domain)
    except UnicodeError as exc:  # no email to it could ever be sent
        raise ValidationError(EMAIL_INVALID, code="invalid") from exc
    if sent_as != address.ascii_domain:
        raise ValidationError(EMAIL_AMBIGUOUS, code="ambiguous")
    return f"{local}@{address.domain}"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        try:
            email = normalize_email(email)
        except ValidationError:
            raise self.model.DoesNotExist from None  # no user has an invalid address
        return self.get(email=email)

    def create_user(self, email, password=None, **fields):
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person or the system. Email is the login, stored in its canonical form (normalize_email), unique.

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

    def clean(self):
        # Instead of AbstractBaseUser.clean, whose NFKC folding would turn "ſ" into "s" without a
        # word: the admin's forms store the same canonical address as the API.
        if self.email:
            try:
                self.email = normalize_email(self.email)
            except ValidationError as exc:
                raise ValidationError({"email": exc.error_list}) from exc


class BlacklistedToken(models.Model):
    """An id that makes JWTs refused until `expires_at`: in `jti`, a token's own id claim (a
    refresh token once rotated) or a login session's `sid` claim (every token of a session that
    logged out). Both are random; one primary-key lookup checks a token's two ids.

    Rows are useless once `expires_at` has passed (every token they name has expired anyway) and
    are purged by `blacklist_purge_expired`.
    """

    jti = models.CharField(max_length=64, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.jti
