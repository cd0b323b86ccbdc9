# The customers service: gunicorn serving wsgi:app on port 8080.
#   docker build -t customers .
#   docker run -p 8080:8080 -e DBHOST=clustercfg.xxx.memorydb.amazonaws.com \
#     -e DBUSERNAME=app -e DBPASSWORD=... customers
# With no DBHOST/REDIS_URL it serves from the embedded store in /data.
# Nothing is written outside /data (and /dev/shm), so --read-only works.
# No secret is baked in: pass DBPASSWORD, API_KEYS (or API_KEYS_FILE) at run time.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# python3: the official python images and Debian's python3 both have it.
RUN python3 -m venv /opt/venv
# The lock (scripts/lock writes it): every package pinned, with the hashes pip checks.
COPY requirements.txt /tmp/requirements.txt
# Optional, for builds behind a TLS-intercepting proxy or a package mirror:
#   --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt -v /etc/ssl/certs:/etc/ssl/certs:ro
#   --build-arg PIP_INDEX_URL=https://mirror.example/simple
# pip reads them from the environment; they exist in this build stage only.
ARG PIP_CERT
ARG PIP_INDEX_URL
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
    -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin customers \
    && mkdir /data && chown customers /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/customers
COPY app ./app
COPY wsgi.py gunicorn.conf.py ./
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data
USER customers
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["python", "-m", "app.ops.healthcheck"]
# Exec form: gunicorn runs as PID 1 and receives SIGTERM itself (graceful stop).
ENTRYPOINT ["gunicorn", "wsgi:app"]
