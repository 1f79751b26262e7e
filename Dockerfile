# calbridge: one long-lived process, `calbridge run`. docs/deploy.md takes it from an empty cluster to a
# running bridge. Configuration comes from /etc/calbridge/calbridge.toml (a ConfigMap) and CALBRIDGE_*
# environment variables; secrets from files mounted under /run/secrets/calbridge, named by *_file keys.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# Build a wheel of calbridge and of everything it needs, so the final image has no compiler or pip cache.
COPY pyproject.toml README.md LICENSE ./
COPY bridge ./bridge
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="calbridge" \
      org.opencontainers.image.description="Salesforce and Exchange calendars kept in step both ways" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CALBRIDGE_CONFIG=/etc/calbridge/calbridge.toml \
    CALBRIDGE_STATE_DIR=/var/lib/calbridge \
    CALBRIDGE_OPS__HOST=0.0.0.0 \
    CALBRIDGE_OPS__PORT=8765
COPY --from=build /wheels /wheels
# The wheelhouse holds exactly the versions the build stage resolved; there is nothing further to pin.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links=/wheels calbridge \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 calbridge \
    && useradd --system --uid 10001 --gid calbridge --home-dir /var/lib/calbridge --shell /usr/sbin/nologin calbridge \
    && mkdir -p /var/lib/calbridge /etc/calbridge \
    && chown calbridge:calbridge /var/lib/calbridge
USER 10001:10001
WORKDIR /var/lib/calbridge
VOLUME ["/var/lib/calbridge"]
EXPOSE 8765
# /healthz needs no token (docs/ops.md); python is in the image, curl is not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]
ENTRYPOINT ["calbridge"]
CMD ["run", "--config", "/etc/calbridge/calbridge.toml"]
