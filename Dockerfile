FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    JOURNALLOFT_HOME=/app JOURNALLOFT_DATA_DIR=/var/lib/journalloft JOURNALLOFT_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir -e .
COPY schemas ./schemas
COPY migrations ./migrations
COPY tenants ./tenants
RUN useradd --system --home /app journalloft && mkdir -p /var/lib/journalloft \
    && chown journalloft /var/lib/journalloft
USER journalloft
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["journalloft", "serve", "--workers", "2"]
