# The proxy of deploy/compose.yaml: Debian's nginx (and its brotli filter), the same config as
# scripts/serve_class.sh, rendered from deploy/nginx.conf.template when the container starts.
# Built from the repository root (compose.yaml's context); runs as www-data, listens on 8080.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx libnginx-mod-http-brotli-filter \
 && rm -rf /var/lib/apt/lists/*

COPY deploy/nginx.conf.template deploy/brotli.conf deploy/render_conf.sh /deploy/
USER www-data
EXPOSE 8080

# UPSTREAMS: the app's service name, resolved once at start to every replica's address
# (compose.yaml starts this container after all of them are healthy)
ENV UPSTREAMS="app:8501"
CMD ["bash", "-c", "/deploy/render_conf.sh /tmp/nginx 0.0.0.0:8080 $UPSTREAMS && exec nginx -p /tmp/nginx -c /tmp/nginx/nginx.conf -e /tmp/nginx/error.log"]
