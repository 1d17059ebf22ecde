# One image for the gateway and the chunk daemons (the command chooses which runs).
FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY s3compat ./s3compat
COPY chunkd ./chunkd
RUN pip install --no-cache-dir .
EXPOSE 9000
