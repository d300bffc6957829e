"""WeChat's official message-push test vectors (docs/wechat.md §6), and wechatpy's XML set."""

from __future__ import annotations

import base64
import json

import pytest

from backend.wechat.crypto import PushCipher, PushCryptoError, signature
from wxemu import crypto as emulator

TOKEN, AES_KEY, APPID = "AAAAA", "A" * 43, "wxba5fad812f8e6fb9"
SAFE_ENCRYPT = (
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUn"
    "nR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjL"
    "Y2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)


def test_url_verification_vector():
    assert signature(TOKEN, "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"


def test_plaintext_post_vector():
    assert signature(TOKEN, "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_safe_mode_signatures_vector():
    assert signature(TOKEN, "1714112445", "415670741") == "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
    assert signature(TOKEN, "1714112445", "415670741", SAFE_ENCRYPT) == "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"


def test_safe_mode_decrypt_vector():
    message = PushCipher(AES_KEY, APPID).decrypt(SAFE_ENCRYPT)
    assert json.loads(message) == {
        "ToUserName": "gh_97417a04a28d",
        "FromUserName": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        "CreateTime": 1714112445,
        "MsgType": "event",
        "Event": "debug_demo",
        "debug_str": "hello world",
    }
    assert len(message.encode()) == 167


def test_encrypted_reply_vector_byte_for_byte():
    cipher = PushCipher(AES_KEY, APPID)
    encrypted = cipher.encrypt('{"demo_resp":"good luck"}', random16=b"707722b803182950")
    assert encrypted == ("ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==")
    assert signature(TOKEN, "1713424427", "415670741", encrypted) == "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"


WECHATPY_KEY, WECHATPY_ID = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
WECHATPY_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)
WECHATPY_ENCRYPTED = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObve"
    "sEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRr"
    "rNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oaz"
    "PoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)


def test_wechatpy_xml_encrypt_vector():
    cipher = PushCipher(WECHATPY_KEY, WECHATPY_ID)
    encrypted = cipher.encrypt(WECHATPY_REPLY, random16=b"1234567890123456")
    assert encrypted == WECHATPY_ENCRYPTED
    assert signature("123456", "1411525903", "461056294", encrypted) == "407518b7649e86ef23978113f92d27afa9296533"
    assert cipher.decrypt(encrypted) == WECHATPY_REPLY


def test_another_appid_is_refused():
    encrypted = PushCipher(AES_KEY, "wx0000000000000000").encrypt("{}")
    with pytest.raises(PushCryptoError, match="another AppID"):
        PushCipher(AES_KEY, APPID).decrypt(encrypted)


@pytest.mark.parametrize(
    "junk", ["not base64!", base64.b64encode(b"short").decode(), "", SAFE_ENCRYPT[:-8] + "AAAAAAA="]
)
def test_junk_ciphertext_is_refused(junk):
    with pytest.raises(PushCryptoError):
        PushCipher(AES_KEY, APPID).decrypt(junk)


# The emulator (wxemu/crypto.py) encrypts pushes with its own code, written from docs/wechat.md
# alone: each side must read what the other makes, or one of them has the format wrong.
CROSS_MESSAGES = ["", "{}", SAFE_ENCRYPT[:12], "x" * 44, json.dumps({"thing1": "洗衣完成 ✓"}, ensure_ascii=False)]


@pytest.mark.parametrize("message", CROSS_MESSAGES)
def test_the_backend_decrypts_what_the_emulator_encrypts(message):
    assert PushCipher(AES_KEY, APPID).decrypt(emulator.encrypt(AES_KEY, APPID, message)) == message
    encrypted = emulator.encrypt(WECHATPY_KEY, WECHATPY_ID, message)
    assert PushCipher(WECHATPY_KEY, WECHATPY_ID).decrypt(encrypted) == message


@pytest.mark.parametrize("message", CROSS_MESSAGES)
def test_the_emulator_decrypts_what_the_backend_encrypts(message):
    assert emulator.decrypt(AES_KEY, PushCipher(AES_KEY, APPID).encrypt(message)) == (message, APPID)
    encrypted = PushCipher(WECHATPY_KEY, WECHATPY_ID).encrypt(message)
    assert emulator.decrypt(WECHATPY_KEY, encrypted) == (message, WECHATPY_ID)


def test_both_encrypt_the_same_bytes_and_sign_alike():
    random16 = b"0123456789abcdef"
    ours = PushCipher(AES_KEY, APPID).encrypt(WECHATPY_REPLY, random16=random16)
    assert emulator.encrypt(AES_KEY, APPID, WECHATPY_REPLY, random16=random16) == ours
    assert emulator.sign(TOKEN, "1714112445", "415670741") == signature(TOKEN, "1714112445", "415670741")
    assert emulator.sign(TOKEN, "1714112445", "415670741", ours) == signature(TOKEN, "1714112445", "415670741", ours)
