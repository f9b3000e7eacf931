# twostage server image: the CLI with the embedded FAISS store (-tags faiss)
# and the CPU ONNX Runtime. For the GPU reranker, mount an ONNX Runtime GPU
# build and point ONNXRUNTIME_LIB at it (see the gpu profile in
# docker-compose.yml).
#
#   docker build -t twostage:dev .
#   docker run --rm twostage:dev demo

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libfaiss-dev libopenblas-dev liblapack-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# ONNX Runtime 1.30 (CPU) from npm into .deps/lib, as on the build machines
# (a .deps copied from the host would hold host paths: fetch afresh).
RUN rm -rf .deps && scripts/deps.sh npm
RUN CGO_ENABLED=1 go build -tags faiss -trimpath -o /out/twostage ./cmd/twostage \
 && cp -L .deps/lib/libonnxruntime.so /out/libonnxruntime.so

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas0 liblapack3 libgomp1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data twostage \
 && mkdir -p /data /models && chown twostage /data
COPY --from=build /out/twostage /usr/local/bin/twostage
COPY --from=build /out/libonnxruntime.so /usr/local/lib/libonnxruntime.so
ENV ONNXRUNTIME_LIB=/usr/local/lib/libonnxruntime.so
USER twostage
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["twostage"]
CMD ["serve", "--config", "/etc/twostage/config.yaml"]
