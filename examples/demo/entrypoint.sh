#!/bin/sh
# A typical entrypoint that fails at start-up: it prepares the environment, then finds that its
# configuration file is missing. Without hookinit the container would be gone with its state.
set -e
echo "entrypoint: preparing the application (APP_MODE=$APP_MODE)"
CONFIG=${CONFIG:-/etc/demo-app/app.conf}
if [ ! -f "$CONFIG" ]; then
    echo "entrypoint: $CONFIG is missing, giving up" >&2
    exit 3
fi
echo "entrypoint: starting the application with $CONFIG"
exec sleep infinity
