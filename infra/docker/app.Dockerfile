# syntax=docker/dockerfile:1
# The API, the migrations job and the Slack sender: one image, the `variance` command.
# Build from the repository root:
#   docker build -f infra/docker/app.Dockerfile -t REGION-docker.pkg.dev/PROJECT/variance-images/app:TAG .
# Base images are pinned to exact version tags; pin them to digests (@sha256:...) where
# a registry can be reached to resolve them (none can from the machine these were written on).

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY . .
# The project with exactly the versions of requirements.lock (the lock is the constraint
# set; only what setup.py's install_requires pulls in is installed, no test tools).
RUN /opt/venv/bin/pip install --constraint requirements.lock .

FROM python:3.11.13-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin variance
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VARIANCE_DATA_DIR=/tmp/variance
USER 10001
EXPOSE 8080
# Cloud Run probes /healthz (startup and liveness, see infra/terraform/cloudrun.tf).
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["variance"]
CMD ["api", "--host", "0.0.0.0", "--port", "8080", "--no-migrate"]
