"""The emulator's fixed identity, shared by the emulator and the backend's dev mode."""

DEV_APPID = "wxd0000000000e0001"
DEV_SECRET = "dev-emulator-secret-not-for-production"  # noqa: S105 - public on purpose
DEFAULT_PORT = 8090
