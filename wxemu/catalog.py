"""The emulated account's categories and a small public template library (docs/wechat.md §8)."""

from __future__ import annotations

from dataclasses import dataclass, field

ONE_TIME = 2
LONG_TERM = 3


@dataclass(frozen=True)
class PubKeyword:
    """One keyword of a public template, as getpubtemplatekeywords lists it."""

    kid: int
    name: str
    example: str
    rule: str
    enum_values: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The key of this keyword in a private template made from it: `thing3`, `enum_string4`."""
        return f"{KEY_PREFIX.get(self.rule, self.rule)}{self.kid}"


@dataclass(frozen=True)
class PubTemplate:
    """A template of the public library that addtemplate copies into the account."""

    tid: int
    title: str
    type: int
    category_id: int
    keywords: tuple[PubKeyword, ...] = field(default_factory=tuple)

    def keyword(self, kid: int) -> PubKeyword | None:
        return next((k for k in self.keywords if k.kid == kid), None)


# Enum keywords are keyed `enum_string<kid>` in real private templates, not `enum<kid>`.
KEY_PREFIX = {"enum": "enum_string"}

CATEGORIES: tuple[dict, ...] = (
    {"id": 616, "name": "公交"},
    {"id": 307, "name": "餐饮服务"},
    {"id": 411, "name": "教育信息服务"},
)

_K = PubKeyword
PUBLIC_TEMPLATES: tuple[PubTemplate, ...] = (
    PubTemplate(
        99,
        "付款成功通知",
        ONE_TIME,
        307,
        (
            _K(1, "付款金额", "¥100.00", "amount"),
            _K(2, "商品名称", "宫保鸡丁", "thing"),
            _K(3, "付款时间", "2019年10月1日 15:01", "time"),
            _K(4, "订单号", "A20191001001", "character_string"),
            _K(5, "备注", "请尽快取餐", "thing"),
        ),
    ),
    PubTemplate(
        1250,
        "订单配送通知",
        ONE_TIME,
        307,
        (
            _K(1, "订单编号", "A20191001001", "character_string"),
            _K(2, "配送状态", "配送中", "phrase"),
            _K(3, "商品名称", "宫保鸡丁", "thing"),
            _K(4, "预计送达", "2019年10月1日 15:01", "time"),
            _K(5, "配送员", "张三", "name"),
            _K(6, "联系电话", "+86-0766-66888866", "phone_number"),
        ),
    ),
    PubTemplate(
        401,
        "报名结果通知",
        ONE_TIME,
        411,
        (
            _K(1, "活动地点", "TIT会议室", "thing"),
            _K(2, "活动日期", "2016年8月8日", "date"),
            _K(3, "报名人数", "32", "number"),
            _K(4, "审核结果", "已通过", "enum", ("已通过", "未通过", "待审核")),
            _K(5, "报名人", "李四", "name"),
        ),
    ),
    PubTemplate(
        2001,
        "公交到站提醒",
        LONG_TERM,
        616,
        (
            _K(1, "线路", "1路", "thing"),
            _K(2, "到站时间", "15:01", "time"),
            _K(3, "车牌号", "粤A8Z888", "car_number"),
            _K(4, "车厢拥挤度", "宽松", "enum", ("宽松", "适中", "拥挤")),
            _K(5, "温馨提示", "请提前到站等候", "thing"),
        ),
    ),
    PubTemplate(
        2002,
        "课程变动提醒",
        LONG_TERM,
        411,
        (
            _K(1, "课程名称", "高等数学", "thing"),
            _K(2, "上课日期", "2019-10-01 08:00~2019-10-01 09:40", "date"),
            _K(3, "班级代码", "CS", "letter"),
            _K(4, "变动标记", "+", "symbol"),
            _K(5, "学费", "¥1200元", "amount"),
        ),
    ),
)


def find_public(tid: int) -> PubTemplate | None:
    """The public template `tid`, or None."""
    return next((t for t in PUBLIC_TEMPLATES if t.tid == tid), None)
