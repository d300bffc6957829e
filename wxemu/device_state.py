"""What the emulator remembers about device subscribe messages (docs/wechat.md §11).

Device types (`model_id`) and their templates, the `sn_ticket`s getsnticket issued, and each
user's device subscriptions, kept per (openid, template, model_id, sn): WeChat remembers the
device a user subscribed with, and a send for another device answers 9800006. One
`DeviceBook` hangs on each `EmulatorState` (as `state.devices`); hold `state.lock` around
every call, as for the rest of the state.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from wxemu.errors import WxError

SN_TICKET_TTL = 300  # "设备票据，5分钟内有效" (§11a)
MAX_SN_BYTES = 128
SN_CHARACTERS = re.compile(r"[0-9A-Za-z_-]+")
MAX_POPUP_TEMPLATES = 3  # wx.requestSubscribeDeviceMessage's tmplIds (§11b)
ACCEPTS = {"accept": False, "acceptWithAudio": True}  # an accept, and whether with a voice reminder
POPUP_RESULTS = frozenset({*ACCEPTS, "reject", "ban", "filter"})

# wx.requestSubscribeDeviceMessage's fail answers (§11b), as the phone words them.
POPUP_ERRORS = {
    10001: "TmplIds can't be empty",
    20003: "Templates count out of max bounds",
    19720726: "check sn_ticket fail",
    19720727: "sn_ticket expire",
    19720728: "err_not_found_tid",
    19720736: "template_id do not match model_id",
}


class PopupRefused(Exception):
    """The phone refused a device popup before showing it: `errCode` as §11b lists them."""

    def __init__(self, errcode: int) -> None:
        super().__init__(errcode)
        self.errcode = errcode

    def answer(self) -> dict:
        """The `fail` callback's object."""
        return {"errMsg": f"requestSubscribeDeviceMessage:fail {POPUP_ERRORS[self.errcode]}", "errCode": self.errcode}


@dataclass
class SnTicket:
    model_id: str
    sn: str
    expires_at: float


@dataclass
class DeviceSubscription:
    status: str  # "accept" or "reject"
    audio: bool = False


@dataclass
class DeviceBook:
    models: dict[str, set[str]] = field(default_factory=dict)  # model_id → its template ids
    model_of: dict[str, str] = field(default_factory=dict)  # template id → model_id
    tickets: dict[str, SnTicket] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str, str, str], DeviceSubscription] = field(default_factory=dict)
    sent: list[dict] = field(default_factory=list)

    def add_model(self, model_id: str, template_ids: list[str]) -> None:
        self.models.setdefault(model_id, set()).update(template_ids)
        for template_id in template_ids:
            self.model_of[template_id] = model_id

    def issue_ticket(self, model_id: object, sn: object, now: float) -> str:
        """getsnticket: a new ticket for (model_id, sn); earlier ones stay valid to their expiry."""
        if not isinstance(sn, str) or not sn or not isinstance(model_id, str) or not model_id:
            raise WxError(47001)  # both fields are required strings
        if len(sn.encode()) > MAX_SN_BYTES:
            raise WxError(9800001)
        if not SN_CHARACTERS.fullmatch(sn):
            raise WxError(9800002)
        if model_id not in self.models:
            raise WxError(9800003)
        ticket = secrets.token_urlsafe(24)
        self.tickets[ticket] = SnTicket(model_id, sn, now + SN_TICKET_TTL)
        return ticket

    def check_popup(self, ticket: str, model_id: str, sn: str, template_ids: list[str], now: float) -> None:
        """What the phone checks before showing a device popup; PopupRefused with its errCode."""
        if not template_ids:
            raise PopupRefused(10001)
        if len(template_ids) > MAX_POPUP_TEMPLATES:
            raise PopupRefused(20003)
        issued = self.tickets.get(ticket)
        if issued is None or (issued.model_id, issued.sn) != (model_id, sn):
            raise PopupRefused(19720726)
        if now >= issued.expires_at:
            raise PopupRefused(19720727)
        for template_id in template_ids:
            if template_id not in self.model_of:
                raise PopupRefused(19720728)
            if self.model_of[template_id] != model_id:
                raise PopupRefused(19720736)

    def answer(self, openid: str, template_id: str, model_id: str, sn: str, result: str) -> None:
        """Record the user's tap: accepts and rejects change the subscription, ban and filter don't."""
        key = (openid, template_id, model_id, sn)
        if result in ACCEPTS:
            self.subscriptions[key] = DeviceSubscription("accept", ACCEPTS[result])
        elif result == "reject":
            self.subscriptions[key] = DeviceSubscription("reject")

    def turn_off(self, openid: str, template_id: str, model_id: str, sn: str) -> bool:
        """The user cancelled a device subscription; False when there was none."""
        sub = self.subscriptions.get((openid, template_id, model_id, sn))
        if sub is None:
            return False
        sub.status, sub.audio = "reject", False
        return True

    def check_subscribed(self, openid: str, template_id: str, model_id: str, sn: str) -> None:
        """43101 without an accepted subscription; 9800006 when the accept is for another device."""
        sub = self.subscriptions.get((openid, template_id, model_id, sn))
        if sub is not None and sub.status == "accept":
            return
        if sub is None and any(
            key[:2] == (openid, template_id) and other.status == "accept" for key, other in self.subscriptions.items()
        ):
            raise WxError(9800006)
        raise WxError(43101)

    def subscriptions_of(self, openid: str) -> list[dict]:
        return [
            {"template_id": tid, "model_id": model_id, "sn": sn, "status": sub.status, "audio": sub.audio}
            for (who, tid, model_id, sn), sub in self.subscriptions.items()
            if who == openid
        ]
