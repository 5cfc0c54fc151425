# syntax=docker/dockerfile:1
# One image for every shopsys role: `docker run IMAGE serve-web | serve-consumer | init | smoke`.
# Runs as a numeric non-root uid with a read-only root filesystem (only /tmp needs to be writable).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: resolve and install the package and its wheels into a self-contained venv -----------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/shopsys

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# confluent-kafka and pymongo ship manylinux wheels: no compiler is needed, none is installed.
# shopsys.devtools (`shopsys dev` and `shopsys provision`: local Kafka, FerretDB and helm, with
# their Go and Maven sources) runs from a checkout; the image holds only what the roles run.
RUN /opt/shopsys/bin/pip install --no-cache-dir --only-binary=confluent-kafka,pymongo . \
    && rm -r /opt/shopsys/lib/python3*/site-packages/shopsys/devtools \
    && /opt/shopsys/bin/shopsys --help > /dev/null

# --- runtime: the venv only, no build tools ---------------------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="shopsys" \
      org.opencontainers.image.description="Event-driven shopping system: storefront, Kafka consumer, management API" \
      org.opencontainers.image.licenses="Apache-2.0"

# A regular (not --system) user: uid 10001 lies above the system range, and useradd says so.
RUN groupadd --gid 10001 shopsys \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin shopsys

COPY --from=build /opt/shopsys /opt/shopsys

ENV PATH=/opt/shopsys/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /tmp
# 8000: serve-web (storefront + API); 8080: serve-consumer (management API).
EXPOSE 8000 8080

ENTRYPOINT ["shopsys"]
CMD ["--help"]
