# syntax=docker/dockerfile:1
# sealbox: the controller image (charts/sealbox runs `sealbox-controller`); the `sealbox` CLI
# is in it too. Build from the repository root: docker build -t sealbox .

# Builder: the same Debian release as the runtime image, so the binaries link against its glibc.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# The controller with the `controller` profile (Cargo.toml: built for size, less memory).
RUN cargo build --release --locked -p sealbox \
    && cargo build --profile controller --locked -p sealbox-controller \
    && mkdir -p /out \
    && cp target/release/sealbox target/controller/sealbox-controller /out/

# Runtime: distroless (glibc, CA certificates, no shell, no package manager), non-root.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/sealbox /out/sealbox-controller /usr/local/bin/
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/sealbox-controller"]
