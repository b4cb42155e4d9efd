#!/bin/sh
# Turns the secrets compose mounts under /run/secrets into the environment variables cervella
# reads, then runs cervella. Secrets never appear in docker-compose.yml or in `docker inspect`.
set -eu
read_secret() { [ -s "/run/secrets/$1" ] && tr -d '\r\n' <"/run/secrets/$1" || true; }
export_secret() {
    value="$(read_secret "$1")"
    [ -n "$value" ] && export "$2=$value"
    return 0
}
export_secret redis_password REDIS_PASSWORD
export_secret admin_key CERVELLA_ADMIN_KEY
export_secret claude_api_key CLAUDE_API_KEY
export_secret qwen3_api_key QWEN3_API_KEY
# Prometheus scrapes the gateway's /metrics with its own key, accepted beside the users' keys.
keys="$(read_secret api_keys)"
metrics="$(read_secret metrics_key)"
[ -n "$metrics" ] && keys="${keys:+$keys,}$metrics"
[ -n "$keys" ] && export CERVELLA_API_KEYS="$keys"
exec cervella "$@"
