FROM python:3.11-slim
# Printable documents (documents/): WeasyPrint lays out text with Pango (HarfBuzz subsets the fonts it embeds);
# Liberation Serif (metric-compatible with Times New Roman, the decree's font) and DejaVu carry Vietnamese.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-liberation2 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY documents documents
COPY workflows workflows
COPY activities activities
COPY migrations migrations
COPY client client
COPY store store
COPY observability observability
COPY scripts scripts
COPY api api
COPY cli cli
COPY security security
COPY worker.py starter.py codec_server.py audit_cli.py ./
COPY config config
COPY samples samples
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1 LOG_FORMAT=json
CMD ["python", "worker.py"]
