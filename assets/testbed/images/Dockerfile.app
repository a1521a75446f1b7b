# flotilla-test/app:v1 and :v2 (build-arg APP_VERSION). No network needed.
FROM flotilla-test/base:latest
ARG APP_VERSION=v1
ENV APP_NAME=web APP_VERSION=${APP_VERSION}
LABEL org.opencontainers.image.title="flotilla-test app" \
      org.opencontainers.image.version="${APP_VERSION}"
COPY app.sh /usr/local/bin/app
HEALTHCHECK --interval=2s --timeout=2s --retries=2 --start-period=10s \
  CMD ["test", "-f", "/tmp/healthy"]
CMD ["sh", "/usr/local/bin/app"]
