# Builds the `api`, `worker` and `mock-providers` binaries; one image runs any of them.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p api -p engine -p mock-providers \
    && install -D target/release/api target/release/worker target/release/mock-providers -t /out

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent datahog
COPY --from=build /out/api /out/worker /out/mock-providers /usr/local/bin/
USER datahog
ENV LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
CMD ["api"]
