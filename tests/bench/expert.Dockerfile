# Way (3) of the modules benchmark (tests/bench_modules.rs): what a careful expert writes.
# A deps step that sees only go.mod/go.sum, cache mounts for the module cache and GOCACHE, the
# context bind-mounted (not copied) into the compile, a scratch runtime with the CA bundle and
# a non-root user. No `# syntax=` line: there is no registry here, and dockerd 20.10's builtin
# Dockerfile frontend accepts RUN --mount=type=bind|cache without one.
FROM golang:1.27-bookworm AS build
ARG GOPROXY
ARG GOSUMDB
WORKDIR /src
RUN --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=cache,target=/go/pkg/mod \
    go mod download
RUN --mount=type=bind,target=. \
    --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -o /out/app .

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
