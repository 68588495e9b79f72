#!/usr/bin/env bash
# Write a working nginx.conf from deploy/nginx.conf.template.
#   deploy/render_conf.sh RUN_DIR LISTEN UPSTREAM [UPSTREAM...]
# RUN_DIR  the folder for nginx's pid, logs and temporary files (the config is written there too)
# LISTEN   what nginx listens on, e.g. 127.0.0.1:8080
# UPSTREAM each app replica, host:port
# Brotli is switched on where Debian's module is installed (NGINX_MODULES, default /usr/lib/nginx/modules).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 3 ]; then
  echo "usage: $0 RUN_DIR LISTEN UPSTREAM [UPSTREAM...]" >&2
  exit 2
fi
run_dir="$1" listen="$2"
shift 2

servers=""
for upstream in "$@"; do
  servers+="        server ${upstream};\n"
done

modules="${NGINX_MODULES:-/usr/lib/nginx/modules}"
load="" brotli="    # brotli: not installed here (apt-get install libnginx-mod-http-brotli-filter); gzip only"
if [ -f "$modules/ngx_http_brotli_filter_module.so" ]; then
  load="load_module ${modules}/ngx_http_brotli_filter_module.so;"
  brotli="    include ${here}/brotli.conf;"
fi
# as root, nginx would hand its workers to another user who cannot enter RUN_DIR: keep them root
user="# workers run as the user who started nginx"
if [ "$(id -u)" = 0 ]; then
  user="user root;"
fi

mkdir -p "$run_dir"
awk -v run_dir="$run_dir" -v listen="$listen" -v servers="${servers%\\n}" -v load="$load" -v brotli="$brotli" \
    -v user="$user" '
  /^@@LOAD_MODULES@@$/ { print load; next }
  /^@@USER@@$/         { print user; next }
  /^@@BROTLI@@$/       { print brotli; next }
  /^@@SERVERS@@$/      { print servers; next }
  { gsub(/@@RUN_DIR@@/, run_dir); gsub(/@@LISTEN@@/, listen); print }
' "$here/nginx.conf.template" > "$run_dir/nginx.conf"
echo "$run_dir/nginx.conf"
