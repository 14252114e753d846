# syntax=docker/dockerfile:1
# The scheduled dbt job: `variance dbt build --target bigquery` over dbt/.
# Build from the repository root:
#   docker build -f infra/docker/dbt.Dockerfile -t REGION-docker.pkg.dev/PROJECT/variance-images/dbt:TAG .
# Base images are pinned to exact version tags (digests could not be resolved here).

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY . .
# The project and dbt with BigQuery, all at requirements.lock's versions.
RUN /opt/venv/bin/pip install --constraint requirements.lock . dbt-core dbt-bigquery

FROM python:3.11.13-slim-bookworm
RUN useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin variance
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001:10001 dbt /app/dbt
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VARIANCE_DATA_DIR=/tmp/variance \
    DBT_TARGET_PATH=/tmp/dbt-target \
    DBT_LOG_PATH=/tmp/dbt-logs
USER 10001
# A batch job: Cloud Run jobs have no health checks to answer.
HEALTHCHECK NONE
ENTRYPOINT ["variance"]
CMD ["dbt", "build", "--target", "bigquery"]
