"""The emulator's fixed identity: the app it hosts by default, and its port.

The backend's dev mode uses the same values from its own copy (backend/settings.py), since the
backend may not import the emulator; tests/wxemu/test_identity.py checks the two agree.
"""

DEV_APPID = "wxd0000000000e0001"
DEV_SECRET = "dev-emulator-secret-not-for-production"  # noqa: S105 - public on purpose
DEFAULT_PORT = 8090
