# syntax=docker/dockerfile:1
# The Flex Template launcher AND the workers' SDK container (one image, so the launcher
# builds the graph with exactly the code and versions the workers run).
# Build from the repository root:
#   docker build -f infra/docker/dataflow.Dockerfile -t REGION-docker.pkg.dev/PROJECT/variance-images/dataflow:TAG .
# Base images are pinned to exact version tags (no registry could be reached here to
# resolve digests): Beam's SDK image matching requirements.lock's apache-beam, and
# Google's launcher base, of which only the launcher binary is copied.

FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:20230622_RC00 AS launcher

FROM apache/beam_python3.11_sdk:2.77.0
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# The project with requirements.lock's versions; Beam is already the locked 2.77.0.
RUN pip install --constraint requirements.lock . \
    && mkdir -p /template \
    && cp infra/dataflow/launch.py /template/launch.py \
    && rm -rf /src
WORKDIR /template
RUN useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin variance
# The launcher runs this file with the template's parameters; the SDK is used as
# installed (no virtualenv, no setup file: everything is in the image already).
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launch.py \
    RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1 \
    PIP_NO_DEPS=True \
    PYTHONUNBUFFERED=1
USER 10001
# checkov:skip=CKV_DOCKER_2:Dataflow supervises the SDK harness itself; a Docker HEALTHCHECK is never run there
# Dataflow requires the SDK's boot program as the entry point of a worker container.
ENTRYPOINT ["/opt/apache/beam/boot"]
