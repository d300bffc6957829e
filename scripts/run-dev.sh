#!/usr/bin/env bash
# Dev mode: the WeChat emulator and the backend on localhost; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
EMULATOR_PORT=${EMULATOR_PORT:-8090}
PORT=${PORT:-5000}
# Dev mode only: a known business API key for the README's walk-through.
export BUSINESS_API_KEYS=${BUSINESS_API_KEYS:-dev-api-key}
# What the sample mini program's subscribe button asks for (GET /api/v1/me/prompts): its config.js templates.
export WX_PROMPT_TEMPLATES=${WX_PROMPT_TEMPLATES:-tmpl-order-shipped,tmpl-washer,tmpl-bus-arrival}

$BIN/python -m wxemu --port "$EMULATOR_PORT" &
emulator=$!
trap 'kill $emulator 2>/dev/null' EXIT
for _ in $(seq 50); do
  $BIN/python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $EMULATOR_PORT)))" && break
  sleep 0.1
done

cat <<EOT

  Dev mode is up (no WX_APPID: the backend talks to the emulator).
  开发模式已启动（未设置 WX_APPID：后端连接的是模拟器）。
    backend   http://127.0.0.1:$PORT      try: curl http://127.0.0.1:$PORT/healthz
              business API key: $BUSINESS_API_KEYS
    emulator  http://127.0.0.1:$EMULATOR_PORT  control API under /_emulator
  Next · 下一步:
    README.md        § Walk-through: from log-in to a sent message, with curl
    README.zh-CN.md  § 演练：用 curl 从登录走到发出一条消息
  The emulator's control API · 模拟器的控制接口:
    README.md        § The emulator's control API
    README.zh-CN.md  § 模拟器的控制接口
  Ctrl-C stops both · Ctrl-C 同时停止两者.

EOT
WX_API_BASE="http://127.0.0.1:$EMULATOR_PORT" $BIN/flask --app wsgi run --port "$PORT"
