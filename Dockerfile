# hazmon services (ingest, alarms + API, simulator) for the compose stack.
#   docker compose build          # or: docker build -t hazmon .
# One image, entry point `hazmon`: the compose services differ by their command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The project, without tests or local state (.dockerignore), installed as a package.
COPY . /src
RUN pip install /src && rm -rf /src

# An unprivileged user; its data folder is where compose mounts each service's
# volume (journal, spool, MQTT session ids), created here so a new volume is its own.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/hazmon hazmon
USER hazmon
WORKDIR /var/lib/hazmon

EXPOSE 8080
ENTRYPOINT ["hazmon"]
CMD ["--help"]
