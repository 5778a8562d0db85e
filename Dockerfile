FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
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
