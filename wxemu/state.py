"""Everything the emulator remembers, in memory, in one object.

`EmulatorState` holds users, codes, tokens, templates, consent, faults and the call
log. Its methods implement WeChat's rules and raise `WxError` with the errcode WeChat
would send. They don't lock: callers hold `state.lock` around a whole request, so a
request sees and changes the state atomically (the server is threaded). Sleeps for
latency happen outside the lock.
"""

from __future__ import annotations

import math
import secrets
import string
import threading
import time
from dataclasses import asdict, dataclass, field

from wxemu.catalog import LONG_TERM, ONE_TIME
from wxemu.component import Component, TicketClock
from wxemu.defaults import DEV_APPID, DEV_SECRET
from wxemu.device_state import DeviceBook
from wxemu.errors import WxError
from wxemu.pusher import Pusher, PushTarget, event_message
from wxemu.rules import EXAMPLES, rule_of

DEFAULT_TOKEN_TTL = 7200
CLASSIC_GRACE = 300  # the old cgi-bin/token stays usable 5 minutes after a new one
STABLE_RENEW_BEFORE = 300  # stable_token renews in the last 5 minutes
FORCE_REFRESH_GAP = 30  # force_refresh: at least 30 s apart, "否则不会刷新"
FORCE_REFRESH_PER_DAY = 20
PHONE_CODE_TTL = 300
MAX_PRIVATE_TEMPLATES = 25
BEIJING_OFFSET = 8 * 3600  # WeChat's daily quotas reset at midnight Beijing time
# subscribe/send's daily limit per app unless the control API sets one (docs/wechat.md §9, §15).
DEFAULT_SEND_LIMIT = 1_000_000

_OPENID_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass
class User:
    openid: str
    unionid: str | None = None


@dataclass
class LoginCode:
    openid: str
    used: bool = False


@dataclass
class PhoneCode:
    phone_number: str
    country_code: str | int
    created_at: float
    openid: str | None = None
    used: bool = False

    def phone_info(self, appid: str) -> dict:
        """getuserphonenumber's `phone_info`; phoneNumber carries the code for foreign numbers."""
        foreign = str(self.country_code) != "86"
        full = f"+{self.country_code} {self.phone_number}" if foreign else self.phone_number
        return {
            "phoneNumber": full,
            "purePhoneNumber": self.phone_number,
            "countryCode": self.country_code,
            "watermark": {"timestamp": int(self.created_at), "appid": appid},
        }


@dataclass
class Token:
    value: str
    kind: str  # "classic" (cgi-bin/token), "stable" (cgi-bin/stable_token) or "authorizer" (a platform's)
    expires_at: float
    dead_at: float = math.inf  # revoked, or end of the grace period after a refresh

    def errcode(self, now: float) -> int:
        """0 when usable; 42001 once past expiry; 40001 once revoked before expiry."""
        end = min(self.expires_at, self.dead_at)
        if now < end:
            return 0
        return 42001 if self.expires_at <= self.dead_at else 40001


@dataclass
class Keyword:
    key: str
    name: str
    example: str
    enum_values: tuple[str, ...] | None = None


@dataclass
class Template:
    pri_id: str
    title: str
    type: int
    keywords: list[Keyword]
    tid: int | None = None
    scene_desc: str | None = None
    banned: bool = False  # by the platform: sends answer 43107, gettemplate leaves it out

    def listing(self) -> dict:
        """The template as gettemplate lists it."""
        item = {
            "priTmplId": self.pri_id,
            "title": self.title,
            "content": "".join(f"{k.name}:{{{{{k.key}.DATA}}}}\n" for k in self.keywords),
            "example": "".join(f"{k.name}:{k.example}\n" for k in self.keywords),
            "type": self.type,
        }
        enums = [
            {"keywordCode": f"{k.key}.DATA", "enumValueList": list(k.enum_values)}
            for k in self.keywords
            if k.enum_values is not None
        ]
        if enums:
            item["keywordEnumValueList"] = enums
        return item


@dataclass
class Subscription:
    long_term: bool
    remaining: int = 0
    status: str | None = None

    def view(self) -> dict:
        return {"remaining": None if self.long_term else self.remaining, "status": self.status}


@dataclass
class Fault:
    """An injected failure for one API name (or "*"), for `times` calls (None: forever)."""

    id: int
    api: str
    times: int | None = None
    errcode: int | None = None
    http_status: int | None = None
    late_ms: int | None = None
    drop: bool = False


@dataclass
class _StableSlot:
    current: str | None = None
    last_force_at: float | None = None
    force_counts: dict[int, int] = field(default_factory=dict)


def new_openid() -> str:
    """A random openid shaped like WeChat's: `o` + 27 characters."""
    return "o" + "".join(secrets.choice(_OPENID_ALPHABET) for _ in range(27))


class Account:
    """One mini program at the emulated WeChat: its secret, push keys, users (openids are per
    app), codes, tokens, templates, consent and push target (docs/wechat.md §12)."""

    def __init__(
        self,
        world: EmulatorState,
        appid: str,
        secret: str,
        push_token: str | None = None,
        encoding_aes_key: str | None = None,
    ) -> None:
        self.world = world
        self.appid = appid
        self.secret = secret
        self.push_token = push_token
        self.encoding_aes_key = encoding_aes_key
        self.pusher = Pusher(world._log_locked)
        self.reset()

    def reset(self) -> None:
        self.users: dict[str, User] = {}
        self.login_codes: dict[str, LoginCode] = {}
        self.phone_codes: dict[str, PhoneCode] = {}
        self.tokens: dict[str, Token] = {}
        self.stable = _StableSlot()
        self.templates: dict[str, Template] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.devices = DeviceBook()  # device types, sn_tickets, device subscriptions (§11)
        self.pusher.target = None
        # subscribe/send's daily quota (getApiQuota, §15): the limit, and the sends per Beijing day.
        self.send_limit = DEFAULT_SEND_LIMIT
        self.sends_by_day: dict[int, int] = {}
        # Users who switched every subscribe message off (wx.getSetting's mainSwitch false, §5).
        self.main_switch_off: set[str] = set()

    def now(self) -> float:
        return self.world.now()

    # --- users and codes ---------------------------------------------------------

    def ensure_user(self, openid: str | None = None, unionid: str | None = None) -> User:
        """The user `openid`, created when new. Without an openid: this app's user of `unionid`
        (the same person keeps one openid per app), else a new random openid."""
        if openid is None and unionid is not None:
            openid = next((user.openid for user in self.users.values() if user.unionid == unionid), None)
        openid = openid or new_openid()
        user = self.users.get(openid)
        if user is None:
            user = self.users[openid] = User(openid)
        if unionid is not None:
            user.unionid = unionid
        return user

    def new_login_code(self, openid: str | None, unionid: str | None) -> tuple[str, User]:
        user = self.ensure_user(openid, unionid)
        code = secrets.token_hex(16)
        self.login_codes[code] = LoginCode(user.openid)
        return code, user

    def redeem_login_code(self, code: str) -> User:
        """The user a wx.login code belongs to; each code works once."""
        login = self.login_codes.get(code)
        if login is None:
            raise WxError(40029)
        if login.used:
            raise WxError(40163)  # "code been used"
        login.used = True
        return self.users[login.openid]

    def new_phone_code(self, openid: str | None, phone: str, country_code: str | int) -> str:
        if openid:
            self.ensure_user(openid)
        code = secrets.token_hex(32)
        self.phone_codes[code] = PhoneCode(phone, country_code, self.now(), openid or None)
        return code

    def redeem_phone_code(self, code: object, openid: object) -> PhoneCode:
        """A phone code's number: once only, within 5 minutes, for the user it was made for."""
        phone = self.phone_codes.get(code) if isinstance(code, str) else None
        if phone is None or phone.used or self.now() - phone.created_at > PHONE_CODE_TTL:
            raise WxError(40029)  # unknown, used and expired codes all read "invalid code"
        if openid and phone.openid and openid != phone.openid:
            raise WxError(40013)  # the code was not issued for this openid
        phone.used = True
        return phone

    # --- credentials and tokens ----------------------------------------------------

    def issue_classic_token(self) -> Token:
        """cgi-bin/token: a new token each call; older ones die 5 minutes later at most."""
        now = self.now()
        for token in self.tokens.values():
            if token.kind == "classic":
                token.dead_at = min(token.dead_at, now + CLASSIC_GRACE)
        return self._issue("classic", now)

    def stable_token(self, force_refresh: bool) -> tuple[Token, int]:
        """cgi-bin/stable_token: the same token until its last 5 minutes, unless forced.

        Returns the token and its `expires_in`: the whole seconds it has left.
        """
        now = self.now()
        token = self._stable_token(now, force_refresh)
        return token, int(token.expires_at - now)

    def _stable_token(self, now: float, force_refresh: bool) -> Token:
        current = self.tokens.get(self.stable.current or "")
        usable = current is not None and current.errcode(now) == 0
        if force_refresh:
            last = self.stable.last_force_at
            if usable and last is not None and now - last < FORCE_REFRESH_GAP:
                return current  # too soon after the last force refresh: nothing changes
            day = int((now + BEIJING_OFFSET) // 86400)
            if self.stable.force_counts.get(day, 0) >= FORCE_REFRESH_PER_DAY:
                raise WxError(45009)
            self.stable.force_counts[day] = self.stable.force_counts.get(day, 0) + 1
            self.stable.last_force_at = now
            if current is not None:
                current.dead_at = min(current.dead_at, now)  # invalidated at once
        elif usable and current.expires_at - now > STABLE_RENEW_BEFORE:
            return current
        token = self._issue("stable", now)  # a renewed old token stays valid to its expiry
        self.stable.current = token.value
        return token

    def _issue(self, kind: str, now: float) -> Token:
        token = Token(secrets.token_urlsafe(102), kind, now + self.world.token_ttl)
        self.tokens[token.value] = token
        return token

    def issue_authorizer_token(self) -> Token:
        """An authorizer_access_token for a platform this app authorized: a token of this app."""
        return self._issue("authorizer", self.now())

    def invalidate_tokens(self, kind: str | None = None) -> None:
        now = self.now()
        for token in self.tokens.values():
            if kind is None or token.kind == kind:
                token.dead_at = min(token.dead_at, now)

    def push_through_component(self, component: Component) -> None:
        """An authorized app's pushes go to the platform's message URL (`$APPID$` replaced), in the
        platform's keys: the decrypted appid is the platform's (docs/wechat.md §14)."""
        self.pusher.target = PushTarget(
            url=(component.message_url or "").replace("$APPID$", self.appid),
            token=component.token,
            appid=component.appid,
            encoding_aes_key=component.encoding_aes_key,
            format="json" if component.format == "json" else "xml",
            mode="safe",
        )

    # --- templates and consent -------------------------------------------------------

    def add_template(
        self,
        title: str,
        type_: int,
        keywords: list[Keyword],
        pri_id: str | None = None,
        **extra: object,
    ) -> Template:
        template = Template(pri_id or secrets.token_urlsafe(32), title, type_, keywords, **extra)
        for keyword in keywords:
            if not keyword.example:
                keyword.example = _example_for(keyword)
        self.templates[template.pri_id] = template
        return template

    def subscription(self, openid: str, template: Template) -> Subscription:
        key = (openid, template.pri_id)
        if key not in self.subscriptions:
            self.subscriptions[key] = Subscription(long_term=template.type == LONG_TERM)
        return self.subscriptions[key]

    def popup(self, openid: str, template: Template, result: str) -> Subscription:
        """The user answered a subscribe popup: a one-time accept adds one credit."""
        sub = self.subscription(openid, template)
        if result in ("accept", "reject"):
            sub.status = result
        if result == "accept" and template.type == ONE_TIME:
            sub.remaining += 1
        return sub

    def turn_off(self, openid: str, template: Template) -> Subscription:
        """The user switched the template off in the settings: no credits left."""
        sub = self.subscription(openid, template)
        sub.status = "reject"
        sub.remaining = 0
        return sub

    # --- the daily quota of subscribe/send (§15) and the main switch (§5) -----------------

    def today(self) -> int:
        return int((self.now() + BEIJING_OFFSET) // 86400)

    def sends_today(self) -> int:
        return self.sends_by_day.get(self.today(), 0)

    def check_send_quota(self) -> None:
        """45009 once today's sends reached the daily limit (WeChat counts the calls it accepted)."""
        if self.sends_today() >= self.send_limit:
            raise WxError(45009)

    def count_send(self) -> None:
        day = self.today()
        self.sends_by_day[day] = self.sends_by_day.get(day, 0) + 1

    def spend_consent(self, openid: str, template: Template) -> None:
        """Use one credit (one-time) or check the accept (long-term); 43101 when there's none,
        or when the user switched every subscribe message off."""
        if openid in self.main_switch_off:
            raise WxError(43101)
        sub = self.subscriptions.get((openid, template.pri_id))
        if template.type == ONE_TIME:
            if sub is None or sub.remaining <= 0:
                raise WxError(43101)
            sub.remaining -= 1
        elif sub is None or sub.status != "accept":
            raise WxError(43101)

    def subscriptions_of(self, openid: str) -> dict[str, dict]:
        return {tid: sub.view() for (who, tid), sub in self.subscriptions.items() if who == openid}

    def deliver(self, message: dict) -> int:
        """Record a delivered message; its msgid (positive, beyond JavaScript's safe range).

        With push configured, WeChat's `subscribe_msg_sent_event` follows after the answer.
        """
        msgid = secrets.randbelow(2**63 - 10**18) + 10**18
        self.world.sent.append({"msgid": msgid, **message, "at": self.now()})
        item = {"TemplateId": message["template_id"], "MsgID": msgid, "ErrorCode": 0, "ErrorStatus": "success"}
        self.pusher.push_later(event_message(message["touser"], "subscribe_msg_sent_event", [item]))
        return msgid


class EmulatorState:
    """The emulated WeChat: the apps it hosts (`Account`), and what is shared by all of them:
    the clock, latency, faults, the sensitive words, the call log. Hold `lock` while calling
    any method of it or of an account.

    The default app (DEV_APPID) always exists; attributes of an account read on the state
    itself (`state.users`, `state.templates`, ...) are the default app's, as before apps.
    """

    def __init__(self, appid: str = DEV_APPID, secret: str = DEV_SECRET, apps: list[dict] | None = None) -> None:
        self.lock = threading.Lock()
        self._initial_apps = [{"appid": appid, "secret": secret}, *(apps or [])]
        self.default_appid = appid
        self.apps: dict[str, Account] = {}
        self.reset()

    def __getattr__(self, name: str):
        # Only reached for names the state itself lacks: the default app's users, templates, ...
        if name in ("apps", "default_appid") or "apps" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.apps[self.default_appid], name)

    @property
    def default(self) -> Account:
        return self.apps[self.default_appid]

    def _log_locked(self, **entry: object) -> None:
        with self.lock:
            self.log_call(**entry)

    def reset(self) -> None:
        """Forget everything: users, codes, tokens, templates, faults, log, clock offset, and the
        apps added since start (those given at start stay, emptied)."""
        self.clock_offset = 0.0
        self.token_ttl = DEFAULT_TOKEN_TTL
        self.pages: set[str] | None = None
        self.latency_ms = 0
        self.faults: list[Fault] = []
        self.blacklist: set[str] = set()  # sensitive words: a value containing one answers 45168
        self.sends_in_flight: set[str] = set()  # openids with a subscribe/send being answered
        self.calls: list[dict] = []
        self.sent: list[dict] = []
        self._next_fault_id = 1
        self._next_seq = 1
        if "ticket_clock" in self.__dict__:
            self.ticket_clock.stop()
        self.component = Component(self, self._log_locked)  # the open platform (docs/wechat.md §14)
        self.ticket_clock = TicketClock(self)
        initial = {entry["appid"] for entry in self._initial_apps}
        for appid in list(self.apps):
            if appid not in initial:
                self.apps.pop(appid).pusher.target = None
        for entry in self._initial_apps:
            self.add_app(**entry)

    def now(self) -> float:
        """The emulator's clock: real time plus what the control API advanced."""
        return time.time() + self.clock_offset

    # --- apps ----------------------------------------------------------------------

    def add_app(
        self, appid: str, secret: str, token: str | None = None, encoding_aes_key: str | None = None
    ) -> Account:
        """Host the app `appid` (new and empty; an app already hosted keeps its state, with these keys)."""
        account = self.apps.get(appid)
        if account is None:
            account = self.apps[appid] = Account(self, appid, secret, token, encoding_aes_key)
        else:
            account.reset()
            account.secret, account.push_token, account.encoding_aes_key = secret, token, encoding_aes_key
        return account

    def check_credentials(self, appid: object, secret: object) -> Account:
        """The app whose appid and AppSecret these are, or WeChat's errcode for them."""
        if not appid:
            raise WxError(41002)
        if not secret:
            raise WxError(41004)
        account = self.apps.get(appid) if isinstance(appid, str) else None
        if account is None:
            raise WxError(40013)
        if secret != account.secret:
            raise WxError(40125)
        return account

    def check_token(self, value: object) -> Account:
        """The app a usable token belongs to; else what WeChat answers for a missing, unknown,
        revoked or expired token. A token is per app: it never acts for another."""
        if not value:
            raise WxError(41001)
        for account in self.apps.values():
            token = account.tokens.get(value) if isinstance(value, str) else None
            if token is not None:
                errcode = token.errcode(self.now())
                if errcode:
                    raise WxError(errcode)
                if token.kind == "authorizer" and 18 not in self.component.live(account.appid).func_ids:
                    raise WxError(61007)  # the merchant did not grant permission set 18
                return account
        if isinstance(value, str) and value in self.component.tokens:
            raise WxError(48001)  # a component token calls only third-party APIs
        raise WxError(40001)

    def account_of_openid(self, openid: str) -> Account | None:
        return next((account for account in self.apps.values() if openid in account.users), None)

    def account_of_template(self, template_id: str) -> Account | None:
        return next((account for account in self.apps.values() if template_id in account.templates), None)

    def invalidate_tokens(self, appid: str | None = None) -> None:
        """Every token issued so far (of `appid` only, when given) answers 40001 from now on."""
        for account in self.apps.values():
            if appid is None or account.appid == appid:
                account.invalidate_tokens()

    def check_sensitive_words(self, data: dict) -> None:
        """45168 when a value contains a word of the blacklist ("命中敏感词", docs/wechat.md §10)."""
        for entry in data.values():
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, str) and any(word in value for word in self.blacklist):
                raise WxError(45168)

    def begin_send(self, openid: str) -> bool:
        """Mark a send to `openid` in flight; False when one already is (WeChat's 43108)."""
        if openid in self.sends_in_flight:
            return False
        self.sends_in_flight.add(openid)
        return True

    def end_send(self, openid: str) -> None:
        self.sends_in_flight.discard(openid)

    # --- faults and log ----------------------------------------------------------

    def add_fault(self, **spec: object) -> Fault:
        fault = Fault(id=self._next_fault_id, **spec)
        self._next_fault_id += 1
        self.faults.append(fault)
        return fault

    def take_fault(self, api: str) -> Fault | None:
        """The first fault for `api` (or "*"), counting one use of it."""
        for fault in self.faults:
            if fault.api in (api, "*"):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def fault_list(self) -> list[dict]:
        return [asdict(f) for f in self.faults]

    def log_call(self, **entry: object) -> None:
        self.calls.append({"seq": self._next_seq, **entry, "at": self.now()})
        self._next_seq += 1


def _example_for(keyword: Keyword) -> str:
    if keyword.enum_values:
        return keyword.enum_values[0]
    return EXAMPLES.get(rule_of(keyword.key), "示例")
