"""The emulator's push crypto against WeChat's official vectors and wechatpy's (docs/wechat.md §6).

The same vectors check the backend's code in tests/wechat/test_crypto.py; here they check the
emulator's own, so each implementation stands on the published figures, not on the other.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.wechat.test_crypto import WECHATPY_ENCRYPTED, WECHATPY_ID, WECHATPY_KEY, WECHATPY_REPLY
from wxemu import crypto

TOKEN, AES_KEY, APPID = "AAAAA", "A" * 43, "wxba5fad812f8e6fb9"
SAFE_ENCRYPT = (
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUn"
    "nR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjL"
    "Y2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
)
SAFE_MESSAGE = (
    '{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,'
    '"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}'
)


def test_url_check_and_plaintext_signatures():
    assert crypto.sign(TOKEN, "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert crypto.sign(TOKEN, "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_safe_mode_signatures():
    assert crypto.sign(TOKEN, "1714112445", "415670741") == "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
    assert crypto.sign(TOKEN, "1714112445", "415670741", SAFE_ENCRYPT) == "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"


def test_safe_mode_push_decrypts_to_the_message_and_appid():
    message, appid = crypto.decrypt(AES_KEY, SAFE_ENCRYPT)
    assert message == SAFE_MESSAGE and len(message.encode()) == 167
    assert appid == APPID


def test_safe_mode_push_is_made_byte_for_byte():
    # The vector's random prefix, read back from its own plaintext (docs/wechat.md §6).
    assert crypto.encrypt(AES_KEY, APPID, SAFE_MESSAGE, random16=b"a8eedb185eb2fecf") == SAFE_ENCRYPT


def test_encrypted_reply_vector():
    encrypted = crypto.encrypt(AES_KEY, APPID, '{"demo_resp":"good luck"}', random16=b"707722b803182950")
    assert encrypted == "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
    assert crypto.sign(TOKEN, "1713424427", "415670741", encrypted) == "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"


def test_wechatpy_xml_vector():
    encrypted = crypto.encrypt(WECHATPY_KEY, WECHATPY_ID, WECHATPY_REPLY, random16=b"1234567890123456")
    assert encrypted == WECHATPY_ENCRYPTED
    assert crypto.sign("123456", "1411525903", "461056294", encrypted) == "407518b7649e86ef23978113f92d27afa9296533"
    assert crypto.decrypt(WECHATPY_KEY, encrypted) == (WECHATPY_REPLY, WECHATPY_ID)


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 43, 44, 45])
def test_padding_fills_to_32_bytes_with_a_whole_block_when_aligned(size):
    # 16 + 4 + size + 18 (the appid) bytes: sizes 12 and 44 land on a 32-byte boundary.
    encrypted = crypto.encrypt(AES_KEY, APPID, "x" * size)
    plain_length = 16 + 4 + size + len(APPID)
    assert len(base64.b64decode(encrypted)) == (plain_length // 32 + 1) * 32
    assert crypto.decrypt(AES_KEY, encrypted) == ("x" * size, APPID)


def test_each_push_has_its_own_random_prefix():
    assert crypto.encrypt(AES_KEY, APPID, "{}") != crypto.encrypt(AES_KEY, APPID, "{}")


@pytest.mark.parametrize("key", ["A" * 42, "A" * 44, "!" * 43])
def test_a_key_wechat_would_not_give_is_refused(key):
    with pytest.raises(crypto.CryptoError):
        crypto.encrypt(key, APPID, "{}")


@pytest.mark.parametrize(
    "junk", ["not base64!", base64.b64encode(b"short").decode(), "", SAFE_ENCRYPT[:-8] + "AAAAAAA="]
)
def test_junk_ciphertext_is_refused(junk):
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(AES_KEY, junk)


def test_the_length_counts_utf8_bytes_not_characters():
    text = json.dumps({"thing1": "洗衣完成"}, ensure_ascii=False)
    plain = _plaintext(crypto.encrypt(AES_KEY, APPID, text))
    assert int.from_bytes(plain[16:20], "big") == len(text.encode()) > len(text)
    assert crypto.decrypt(AES_KEY, crypto.encrypt(AES_KEY, APPID, text)) == (text, APPID)


def _plaintext(encrypted: str) -> bytes:
    """The padded plaintext, decrypted with `cryptography` directly: the layout, not our reading of it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(AES_KEY + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
