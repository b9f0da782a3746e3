# One image for the four services; docker-compose.yml picks the service with its command.
FROM python:3.11-slim AS build
WORKDIR /src
# The locked dependencies first (every transitive one, hash-checked; a layer of its own), then the project alone.
COPY requirements.lock ./
RUN pip install --no-cache-dir --prefix=/install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY system ./system
RUN pip install --no-cache-dir --prefix=/install --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 cri
COPY --from=build /install /usr/local
USER cri
WORKDIR /home/cri
ENV PYTHONUNBUFFERED=1 CRI_HTTP_HOST=0.0.0.0 CRI_HTTP_PORT=8000
EXPOSE 8000
CMD ["python", "-m", "services.intake"]
