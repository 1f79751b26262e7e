"""calbridge's configuration: one TOML file, overridden by `CALBRIDGE_*` environment variables.

    config = load_config("calbridge.toml")
    policy = config.policy_for(config.users[0], mailbox_time_zone="Europe/Madrid")

Rules (docs/config.md says them for admins):
- A key in the file is overridden by its environment variable: `CALBRIDGE_` + the dotted path upper-cased with
  `__` between sections (`salesforce.client_secret` -> `CALBRIDGE_SALESFORCE__CLIENT_SECRET`).
- Secrets (`*_secret`, `password`, `token`, `private_key`) come from the environment or from a `*_file` key
  naming a file whose content is the secret; never from the file itself nor the command line (R-SEC-1).
  They are `SecretStr`s: a repr or a log line shows `**********`.
- Every mistake is reported at once, each as `dotted.key: what is wrong; what to do`; an unknown key (a
  typo) names the nearest valid one. `load_config` raises `ConfigProblems` (a `ConfigError`) listing them.
- Relative paths are relative to the working directory calbridge is started from.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bridge.core.model import Direction, Filter, Invitations, Policy, PrivatePolicy, Side
from bridge.errors import ConfigError

ENV_PREFIX = "CALBRIDGE_"
DEFAULT_PUBSUB = "api.pubsub.salesforce.com:7443"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"

# Keys that hold secrets; each has a `<key>_file` twin, read after validation (see `_resolve`).
_SECRET_KEYS = ("client_secret", "password", "token", "private_key")

PastDays = Annotated[int, Field(ge=0, le=365)]
FutureDays = Annotated[int, Field(ge=0, le=730)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------ sections


class SalesforceSettings(_Section):
    instance_url: str
    token_url: str | None = None  # default: instance_url + /services/oauth2/token
    auth: Literal["client_credentials", "jwt"] = "client_credentials"
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    username: str | None = None  # jwt: the run-as user
    private_key: SecretStr | None = None  # jwt: PEM
    private_key_file: Path | None = None
    pubsub: str = DEFAULT_PUBSUB
    org_id: str | None = None
    api_version: str = "62.0"
    ca_bundle: Path | None = None
    api_budget: Fraction = 0.8
    # While writes wait past the budget, how often the org's usage is asked (one `limits` call each time).
    budget_poll_seconds: Annotated[float, Field(gt=0)] = 60.0

    @field_validator("instance_url", "token_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None:
            if not re.match(r"^https://[^/\s]+", value):
                raise ValueError(f"{value!r} is not an https:// URL; use e.g. https://acme.my.salesforce.com")
            value = value.rstrip("/")
        return value

    @field_validator("pubsub")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port; use e.g. {DEFAULT_PUBSUB}")
        return value

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2}\.0", value):
            raise ValueError(f'{value!r} is not an API version; use e.g. "62.0"')
        return value

    @field_validator("org_id")
    @classmethod
    def _org_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"00D[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?", value):
            raise ValueError(
                f"{value!r} is not an org id; copy the 00D... id from Setup > Company Information"
            )
        return value

    @property
    def token_endpoint(self) -> str:
        return self.token_url or f"{self.instance_url}/services/oauth2/token"


class GraphSettings(_Section):
    authority: str | None = None  # https://login.microsoftonline.com/<tenant id>
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    graph_url: str = DEFAULT_GRAPH_URL
    notification_url: str | None = None  # a public https address for change notifications; else delta polling
    poll_seconds: Annotated[float, Field(gt=0)] = 10.0  # delta polling period of an idle mailbox
    poll_fast_seconds: Annotated[float, Field(gt=0)] = 2.0  # the period for two minutes after a change


class ExchangeSettings(_Section):
    provider: Literal["ews", "graph"] = "ews"
    ews_url: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    auth_type: Literal["basic", "ntlm"] = "basic"
    access_type: Literal["impersonation", "delegate"] = "impersonation"
    ca_bundle: Path | None = None
    graph: GraphSettings = Field(default_factory=GraphSettings)


class StoreSettings(_Section):
    url: str | None = None  # default: sqlite+aiosqlite:///<state_dir>/calbridge.db
    password: SecretStr | None = None  # put into url (PostgreSQL), never written in it
    password_file: Path | None = None


class OpsSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: SecretStr | None = None
    token_file: Path | None = None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


class SyncSettings(_Section):
    reconcile_hours: float = Field(default=6.0, gt=0, le=168)
    # A Salesforce write waits this long for other users' writes to share its sObject Collections call.
    linger_ms: int = Field(default=5, ge=0, le=1_000)
    workers: int = Field(default=16, ge=1, le=1024)  # users' passes running at the same time
    batch_size: int = Field(default=200, ge=1, le=200)  # records per sObject Collections call (R-API-3)
    insecure_skip_tls_verify: bool = False  # R-SEC-2: loudly logged when true
    # Who syncs and how: "config" ([[users]] and [policy] here) or "salesforce" (the Calbridge User permission
    # set and Calbridge_Settings__c rows, followed as they change; this file fills what they leave blank).
    settings_source: Literal["config", "salesforce"] = "config"
    issues_to_salesforce: bool = False  # keep every issue as a Calbridge_Issue__c record (R-LIM-1)


class ReplicaSettings(_Section):
    """Several replicas over one PostgreSQL store (docs/replicas.md); off: one process syncs everyone."""

    enabled: bool = False
    id: str | None = None  # default: the host name (a Kubernetes pod's name)
    lease_seconds: float = Field(default=15.0, ge=3.0, le=120.0)  # a dead replica's users move within 4/3 x

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", value):
            raise ValueError(f"{value!r} is not a replica id; use up to 100 letters, digits, _, . or -")
        return value

    @property
    def replica_id(self) -> str:
        import socket

        return self.id or socket.gethostname()


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"  # auto: console on a terminal, else JSON lines


class PolicySettings(_Section):
    """The org's defaults for every user (SPEC's defaults)."""

    direction: Direction = Direction.BOTH
    filter_to_exchange: Filter = Filter.ALL
    filter_to_salesforce: Filter = Filter.ALL
    past_days: PastDays = 30
    future_days: FutureDays = 60
    private: PrivatePolicy = PrivatePolicy.MASK
    safe_description: bool = True
    continuous_attendees: bool = True
    invitations: Invitations = Invitations.NONE
    tie_winner: Side = Side.SALESFORCE
    delete_in_exchange: bool = False
    sync_internal: bool = False
    sync_unanswered: bool = False
    blocked_categories: list[str] = Field(default_factory=lambda: ["Personal"])
    internal_domains: list[str] = Field(default_factory=list)
    shared_activities: bool = True
    sync_category: str = Field(default="Salesforce", min_length=1)
    unsync_category: str = Field(default="Salesforce Unsync", min_length=1)
    error_category: str = Field(default="Sync Error", min_length=1)
    mass_delete_min: Count = 10
    mass_delete_fraction: Fraction = 0.5
    # Observe mode (issue 9): read, plan and report what would be written (calbridge observe-report); write
    # nothing. A runtime switch, not a sync rule: `observing()` reads it, the core's Policy never holds it.
    observe: bool = False


class JournalSettings(_Section):
    """The journal of every write the bridge made (calbridge undo)."""

    keep_days: int = Field(default=30, ge=1, le=3650)


class UserSettings(_Section):
    """One enrolled user; every policy key may be set here too, overriding `[policy]` for this user."""

    email: str
    salesforce_user_id: str
    enabled: bool = True
    direction: Direction | None = None
    filter_to_exchange: Filter | None = None
    filter_to_salesforce: Filter | None = None
    past_days: PastDays | None = None
    future_days: FutureDays | None = None
    private: PrivatePolicy | None = None
    safe_description: bool | None = None
    continuous_attendees: bool | None = None
    invitations: Invitations | None = None
    tie_winner: Side | None = None
    delete_in_exchange: bool | None = None
    sync_internal: bool | None = None
    sync_unanswered: bool | None = None
    blocked_categories: list[str] | None = None
    internal_domains: list[str] | None = None
    shared_activities: bool | None = None
    sync_category: str | None = Field(default=None, min_length=1)
    unsync_category: str | None = Field(default=None, min_length=1)
    error_category: str | None = Field(default=None, min_length=1)
    mass_delete_min: Count | None = None
    mass_delete_fraction: Fraction | None = None
    observe: bool | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an email address; use the user's mailbox address")
        return value.lower()

    @field_validator("salesforce_user_id")
    @classmethod
    def _user_id(cls, value: str) -> str:
        if not re.fullmatch(r"005[a-zA-Z0-9]{12}(?:[a-zA-Z0-9]{3})?", value):
            raise ValueError(
                f"{value!r} is not a Salesforce user id; copy the 005... id from the User record"
            )
        return value

    def overrides(self) -> dict[str, Any]:
        """The policy keys this user sets."""
        return {
            name: value for name in PolicySettings.model_fields if (value := getattr(self, name)) is not None
        }


# ------------------------------------------------------------------------------------------------- config


class Config(BaseSettings):
    """The whole configuration. Build it with `load_config(path)`; `Config(**values)` skips the file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="forbid",
    )

    state_dir: Path = Path("./calbridge-state")
    bridge_id: str = "calbridge"
    salesforce: SalesforceSettings
    exchange: ExchangeSettings
    store: StoreSettings = Field(default_factory=StoreSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    replica: ReplicaSettings = Field(default_factory=ReplicaSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    users: list[UserSettings] = Field(default_factory=list)

    @field_validator("bridge_id")
    @classmethod
    def _bridge_id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", value):
            raise ValueError(f"{value!r} is not a client id; use up to 40 letters, digits, _ or -")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, whose values `load_config` passes as init values.
        return (env_settings, init_settings)

    # -- derived values --------------------------------------------------------------------------------

    @property
    def store_url(self) -> str:
        """The database URL, with the store password put in when one is configured."""
        url = self.store.url or f"sqlite+aiosqlite:///{self.state_dir / 'calbridge.db'}"
        if self.store.password is None:
            return url
        from sqlalchemy.engine import make_url

        return (
            make_url(url)
            .set(password=self.store.password.get_secret_value())
            .render_as_string(hide_password=False)
        )

    @property
    def enabled_users(self) -> list[UserSettings]:
        return [u for u in self.users if u.enabled]

    def user(self, key: str) -> UserSettings:
        """The user with this email address or Salesforce user id (KeyError if none)."""
        for user in self.users:
            if key.lower() == user.email or key in (user.salesforce_user_id, user.salesforce_user_id[:15]):
                return user
        raise KeyError(key)

    def policy_for(self, user: UserSettings | str, *, mailbox_time_zone: str = "UTC") -> Policy:
        """The user's policy: the org's `[policy]` with the user's own keys over it."""
        if isinstance(user, str):
            user = self.user(user)
        values: dict[str, Any] = self.policy.model_dump()
        values.update(user.overrides())
        values.pop("observe")
        values["blocked_categories"] = frozenset(values["blocked_categories"])
        values["internal_domains"] = frozenset(d.lower().lstrip("@") for d in values["internal_domains"])
        return Policy(
            user_id=user.salesforce_user_id,
            user_email=user.email,
            mailbox_time_zone=mailbox_time_zone,
            **values,
        )

    def observing(self, user: UserSettings | str) -> bool:
        """Whether the user is in observe mode: their own `observe`, else the org's."""
        if isinstance(user, str):
            user = self.user(user)
        return self.policy.observe if user.observe is None else user.observe

    def secrets(self) -> list[str]:
        """Every configured secret's value, for the log redactor."""
        found: list[str] = []
        for section in (self.salesforce, self.exchange, self.exchange.graph, self.store, self.ops):
            for name in _SECRET_KEYS:
                value = getattr(section, name, None)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    found.append(value.get_secret_value())
        return found

    def warnings(self) -> list[str]:
        """What an admin should know about this configuration although it is valid."""
        notes = []
        if self.sync.insecure_skip_tls_verify:
            notes.append(
                "sync.insecure_skip_tls_verify is true: TLS certificates are NOT verified; anyone on the "
                "network path can read and change calendar data. Set ca_bundle instead (R-SEC-2)."
            )
        if not self.enabled_users:
            notes.append("no enabled users: nothing will be synced; add [[users]] tables")
        return notes

    def summary(self) -> list[str]:
        """A few lines for `calbridge check-config`; never a secret."""
        sf, exchange = self.salesforce, self.exchange
        target = exchange.ews_url if exchange.provider == "ews" else exchange.graph.graph_url
        enabled = len(self.enabled_users)
        return [
            f"salesforce  {sf.instance_url} ({sf.auth}, API {sf.api_version})",
            f"exchange    {exchange.provider} {target}",
            f"store       {_hide_password(self.store_url)}",
            f"ops         http://{self.ops.host}:{self.ops.port}"
            + ("" if self.ops.loopback else " (token required)"),
            f"users       {enabled} enabled of {len(self.users)}",
        ]


# ------------------------------------------------------------------------------------------------ loading


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigProblems(ConfigError):
    """Every problem found in one configuration; `str()` gives one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0]
        rest = "".join(f"\n{p}" for p in problems[1:])
        super().__init__(first.key, first.message + rest)
        self.problems = problems


def load_config(path: str | Path) -> Config:
    """Read the TOML file at `path`, apply `CALBRIDGE_*` environment overrides, read secret files and check
    everything; raise `ConfigProblems` listing every mistake (a `ConfigError` for an unreadable file)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "no such file; pass the path of your calbridge.toml") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a directory; pass the path of your calbridge.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot be read ({exc}); check its permissions") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"is not valid TOML: {exc}; fix the syntax there") from None
    return build_config(data)


def build_config(data: Mapping[str, Any]) -> Config:
    """`load_config` without the file: `data` is the parsed TOML; the environment still overrides it."""
    problems = _inline_secrets(data)
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise ConfigProblems(problems + [_explain(e) for e in exc.errors()]) from None
    problems += _resolve(config)
    if problems:
        raise ConfigProblems(problems)
    return config


def env_name(key: str) -> str:
    """`salesforce.client_secret` -> `CALBRIDGE_SALESFORCE__CLIENT_SECRET`."""
    return ENV_PREFIX + key.replace(".", "__").upper()


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _inline_secrets(data: Mapping[str, Any]) -> list[Problem]:
    """Secrets written in the file itself (R-SEC-1): say where they belong instead."""
    found = []
    sections: list[tuple[str, Any]] = [
        ("salesforce", data.get("salesforce")),
        ("exchange", data.get("exchange")),
        ("store", data.get("store")),
        ("ops", data.get("ops")),
    ]
    exchange = data.get("exchange")
    if isinstance(exchange, dict):
        sections.append(("exchange.graph", exchange.get("graph")))
    for prefix, section in sections:
        if not isinstance(section, dict):
            continue
        for name in _SECRET_KEYS:
            if name in section:
                key = f"{prefix}.{name}"
                found.append(
                    Problem(
                        key,
                        "a secret does not belong in the config file; set "
                        f"{env_name(key)} or write it to a file named by {name}_file",
                    )
                )
    store = data.get("store")
    if (
        isinstance(store, dict)
        and isinstance(store.get("url"), str)
        and _hide_password(store["url"]) != store["url"]
    ):
        found.append(
            Problem("store.url", "holds a password; remove it from the URL and use store.password_file")
        )
    return found


def _resolve(config: Config) -> list[Problem]:
    """Checks across keys, and secrets read from their files."""
    problems: list[Problem] = []

    def secret(section: BaseModel, prefix: str, name: str, required: str | None) -> None:
        key = f"{prefix}.{name}"
        file_key = f"{key}_file"
        path: Path | None = getattr(section, f"{name}_file")
        if path is not None:
            if getattr(section, name) is not None:
                problems.append(Problem(key, f"set both by {env_name(key)} and by {file_key}; keep one"))
                return
            try:
                content = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                problems.append(Problem(file_key, f"{str(path)!r} does not exist; write the secret there"))
                return
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(file_key, f"{str(path)!r} cannot be read ({exc.__class__.__name__})"))
                return
            if not content:
                problems.append(Problem(file_key, f"{str(path)!r} is empty; write the secret there"))
                return
            setattr(section, name, SecretStr(content))
        elif required is not None and getattr(section, name) is None:
            problems.append(Problem(key, f"required {required}; set {env_name(key)} or {file_key}"))

    sf, ex, graph = config.salesforce, config.exchange, config.exchange.graph
    if config.store.url is None:
        config.store.url = f"sqlite+aiosqlite:///{config.state_dir / 'calbridge.db'}"
    secret(
        sf, "salesforce", "client_secret", 'with auth = "client_credentials"' if sf.auth != "jwt" else None
    )
    secret(sf, "salesforce", "private_key", 'with auth = "jwt"' if sf.auth == "jwt" else None)
    if sf.auth == "jwt" and not sf.username:
        problems.append(Problem("salesforce.username", 'required with auth = "jwt"; set the run-as username'))
    if ex.provider == "ews":
        if not ex.ews_url:
            problems.append(
                Problem(
                    "exchange.ews_url",
                    'required with provider = "ews"; e.g. https://mail.acme.com/EWS/Exchange.asmx',
                )
            )
        elif not re.match(r"^https?://", ex.ews_url):
            problems.append(
                Problem(
                    "exchange.ews_url", f"{ex.ews_url!r} is not a URL; use https://host/EWS/Exchange.asmx"
                )
            )
        if not ex.username:
            problems.append(
                Problem("exchange.username", 'required with provider = "ews"; the service account')
            )
        secret(ex, "exchange", "password", 'with provider = "ews"')
    else:
        secret(ex, "exchange", "password", None)
        for name in ("authority", "client_id"):
            if not getattr(graph, name):
                problems.append(Problem(f"exchange.graph.{name}", 'required with provider = "graph"'))
    secret(
        graph,
        "exchange.graph",
        "client_secret",
        'with provider = "graph"' if ex.provider == "graph" else None,
    )
    secret(config.store, "store", "password", None)
    secret(
        config.ops,
        "ops",
        "token",
        None if config.ops.loopback else f"when ops.host ({config.ops.host}) is not loopback (R-SEC-3)",
    )
    for key, bundle in (("salesforce.ca_bundle", sf.ca_bundle), ("exchange.ca_bundle", ex.ca_bundle)):
        if bundle is not None and not bundle.is_file():
            problems.append(
                Problem(key, f"{str(bundle)!r} is not a file; name a PEM file of CA certificates")
            )
    if config.state_dir.exists() and not config.state_dir.is_dir():
        problems.append(Problem("state_dir", f"{str(config.state_dir)!r} is a file; name a directory"))
    if config.replica.enabled and not config.store.url.startswith("postgres"):
        problems.append(
            Problem(
                "replica.enabled",
                "replicas share one store: set store.url to a PostgreSQL database (SQLite is a file only "
                "one process writes), or run one replica with replica.enabled = false",
            )
        )
    seen: dict[str, int] = {}
    for index, user in enumerate(config.users):
        for value in (user.email, user.salesforce_user_id[:15]):
            if value in seen:
                problems.append(
                    Problem(
                        f"users[{index}]", f"{value} is already enrolled by users[{seen[value]}]; remove one"
                    )
                )
            seen.setdefault(value, index)
    return problems


# ------------------------------------------------------------------------------------------- error texts


def _explain(error: Any) -> Problem:
    """One pydantic error as `dotted.key: what is wrong; what to do`."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    key = _dotted(loc)
    kind, value = error["type"], error.get("input")
    field = _field_at(loc)[0]
    source = f" (from {env_name(key)})" if env_name(key) in {k.upper() for k in os.environ} else ""
    if kind == "extra_forbidden":
        parent = _field_at(loc[:-1])[1] if len(loc) > 1 else Config
        names = list(parent.model_fields) if parent is not None else []
        guess = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
        hint = f"did you mean {guess[0]}?" if guess else f"valid keys here: {', '.join(names)}"
        return Problem(key, f"unknown key{source}; {hint}")
    if kind == "missing":
        if any(isinstance(part, int) for part in loc):
            return Problem(key, f"required; add it to the {_dotted(loc[:-1])} table")
        where = _dotted(loc[:-1]) or "the top level"
        return Problem(key, f"required; add it to [{where}] or set {env_name(key)}")
    choices = _choices(field)
    if kind in ("enum", "literal_error") and choices:
        return Problem(key, f"{value!r}{source} is not one of {', '.join(choices)}")
    bounds = _bounds(field)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than") and bounds:
        return Problem(key, f"{value!r}{source} is out of range; use a value {bounds}")
    if kind == "value_error":
        return Problem(key, str(error["msg"]).removeprefix("Value error, ") + source)
    message = str(error["msg"])
    if message.startswith("Input should be"):
        message = f"{value!r}{source} should be" + message.removeprefix("Input should be")
    return Problem(key, message)


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field_at(loc: tuple[str | int, ...]) -> tuple[FieldInfo | None, type[BaseModel] | None]:
    """The field at `loc` and the model it holds (a section's class; None for a plain value)."""
    model: type[BaseModel] | None = Config
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None, None
        info = model.model_fields[part]
        model = _model_in(info.annotation)
    return info, model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _choices(field: Any) -> list[str]:
    annotation = getattr(field, "annotation", None)
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return [str(member.value) for member in candidate]
        if typing.get_origin(candidate) is Literal:
            return [str(a) for a in typing.get_args(candidate)]
    return []


def _bounds(field: Any) -> str:
    low = high = None
    for meta in [*getattr(field, "metadata", []), *_annotated_metadata(getattr(field, "annotation", None))]:
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        low = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f"of at least {low}"
    if high is not None:
        return f"of at most {high}"
    return ""


def _annotated_metadata(annotation: Any) -> list[Any]:
    found: list[Any] = []
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is Annotated:
            found.extend(arg.__metadata__)
            for inner in arg.__metadata__:
                found.extend(getattr(inner, "metadata", []))
        found.extend(_annotated_metadata(arg))
    return found
