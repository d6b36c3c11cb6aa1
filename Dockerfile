# The funding-tracker image: API server by default; the projector runs from the same image.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
# psycopg[binary] ships its own libpq, so no system packages are needed.
# The app runs as a non-root user that may write only ./var (the default SQLite store).
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /app funding \
    && mkdir -p /app/var && chown funding /app/var

USER funding
EXPOSE 8000
CMD ["funding", "serve", "--host", "0.0.0.0"]
