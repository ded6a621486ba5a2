# Way (1) of the modules benchmark (tests/bench_modules.rs): the naive Dockerfile. The whole
# context is copied before anything else, so any change to any file re-downloads every module
# and recompiles everything (standard library included: no GOCACHE survives). Runtime:
# debian:bookworm-slim with the binary copied in, running as root.
FROM golang:1.27-bookworm AS build
ARG GOPROXY
ARG GOSUMDB
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -o /app .

FROM debian:bookworm-slim
COPY --from=build /app /usr/local/bin/app
ENTRYPOINT ["/usr/local/bin/app"]
