# One image with every binary. The devnet target also carries Node.js and the
# localnet's npm packages for the Solana localnet.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/ ./cmd/ingest ./cmd/settler ./cmd/watcher ./cmd/devnet ./cmd/h402pay ./cmd/h402load ./cmd/h402ledger ./cmd/h402recon

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10402 h402 && mkdir -p /data && chown h402 /data
COPY --from=build /out/ /usr/local/bin/
COPY configs/ /etc/h402/
USER h402
WORKDIR /data

FROM node:20-bookworm-slim AS devnet
COPY --from=build /out/devnet /usr/local/bin/devnet
COPY localnet/ /opt/h402/localnet/
RUN cd /opt/h402/localnet && npm ci --no-audit --no-fund --loglevel=error
WORKDIR /opt/h402
EXPOSE 8545 8899
ENTRYPOINT ["devnet"]
