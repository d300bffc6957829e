"""Sample values shared by the emulator tests."""

RID = r" rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$"

ORDER_TEMPLATE = {
    "priTmplId": "tmpl-order",
    "title": "订单发货通知",
    "type": 2,
    "keywords": [
        {"key": "thing1", "name": "商品名称"},
        {"key": "time2", "name": "发货时间"},
        {"key": "enum_string3", "name": "配送方式"},
    ],
    "enums": {"enum_string3": ["快递", "自提"]},
}
ORDER_DATA = {
    "thing1": {"value": "蓝色水壶"},
    "time2": {"value": "2019年10月1日 15:01"},
    "enum_string3": {"value": "快递"},
}
