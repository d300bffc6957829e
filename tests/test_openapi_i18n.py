"""/docs in the reader's language: `/openapi.json?lang=zh-CN` has every operation's summary and
description in Chinese, and the English document stays the default.

An operation (a new endpoint, an edited docstring) without its zh-CN summary or description
fails here by name; the fix is one entry in backend/i18n/openapi_zh_cn.py.
"""

from __future__ import annotations

import re

import pytest

from backend.api import docs
from backend.api.openapi import catalogue_key, prose
from backend.i18n.openapi_zh_cn import TEXTS as ZH

CJK = re.compile(r"[\u4e00-\u9fff]")
# Inline code a translation keeps as it is: paths, fields, headers, values.
CODE = re.compile(r"`[^`]+`")


@pytest.fixture
def english(client) -> dict:
    return client.get("/openapi.json").json


def english_prose(document) -> list[str]:
    return [holder[key] for holder, key in prose(document)]


def test_the_prose_is_found(english):
    texts = english_prose(english)
    assert "Send one subscribe message." in texts and english["info"]["title"] in texts
    assert len(texts) > 2 * len(english["paths"])


def test_every_summary_and_description_has_its_chinese_form(english):
    missing = [text for text in english_prose(english) if catalogue_key(text) not in ZH]
    assert missing == [], "add these to backend/i18n/openapi_zh_cn.py"


def test_the_catalogue_holds_only_what_the_document_or_the_page_says(english):
    said = {catalogue_key(text) for text in english_prose(english)} | {docs.PAGE_TITLE}
    assert sorted(set(ZH) - said) == []


@pytest.mark.parametrize("english_text", sorted(ZH))
def test_a_translation_is_chinese_and_keeps_the_inline_code(english_text):
    assert CJK.search(ZH[english_text])
    assert sorted(CODE.findall(ZH[english_text])) == sorted(CODE.findall(english_text))


def operation(document, path, method):
    return document["paths"][path][method]


def test_lang_zh_cn_gives_the_chinese_document(client):
    english = client.get("/openapi.json")
    chinese = client.get("/openapi.json?lang=zh-CN")
    assert english.headers["Content-Language"] == "en" and chinese.headers["Content-Language"] == "zh-CN"
    send_en = operation(english.json, "/api/v1/messages", "post")
    send_zh = operation(chinese.json, "/api/v1/messages", "post")
    assert send_en["summary"] == "Send one subscribe message."
    assert send_zh["summary"] == "发送一条订阅消息。" and CJK.search(send_zh["description"])
    assert chinese.json["info"]["title"] == "微信订阅消息后端"
    # Only the prose differs: the contract (paths, schemas, responses, examples) is the same document.
    documents = english.json, chinese.json
    for document in documents:
        for holder, key in prose(document):
            holder[key] = None
    assert documents[0] == documents[1]


@pytest.mark.parametrize("query", ["", "?lang=en", "?lang=fr", "?lang=zh-TW"])
def test_otherwise_the_document_is_english(client, query):
    response = client.get(f"/openapi.json{query}", headers={"Accept-Language": "zh-CN"})
    assert response.headers["Content-Language"] == "en"
    assert operation(response.json, "/api/v1/messages", "post")["summary"] == "Send one subscribe message."


def test_docs_follows_accept_language(client):
    response = client.get("/docs", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    page = response.get_data(as_text=True)
    assert response.headers["Content-Language"] == "zh-CN" and "Accept-Language" in response.vary
    assert '<html lang="zh-CN">' in page and "<title>微信订阅消息后端：API</title>" in page
    assert 'data-spec-url="/openapi.json?lang=zh-CN"' in page
    english = client.get("/docs", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert 'data-spec-url="/openapi.json"' in english and '<html lang="en">' in english


def test_the_switch_chooses_whatever_the_browser_says(client):
    page = client.get("/docs?lang=zh-CN", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-spec-url="/openapi.json?lang=zh-CN"' in page
    assert 'href="/docs?lang=en"' in page and ">English</a>" in page
    assert 'href="/docs?lang=zh-CN"' in page and ">中文</a>" in page
    back = client.get("/docs?lang=en", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'data-spec-url="/openapi.json"' in back
