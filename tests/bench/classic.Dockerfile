# Way (2) of the modules benchmark (tests/bench_modules.rs): the classic split. The module
# download is its own layer keyed by go.mod/go.sum, so a code edit keeps the modules; but any
# change to go.mod re-downloads all of them, and the compile has no GOCACHE (the standard
# library and every dependency are recompiled after any change). Runtime: scratch with the
# binary and the CA bundle (running as root: scratch has no users).
FROM golang:1.27-bookworm AS build
ARG GOPROXY
ARG GOSUMDB
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /app .

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /app /app
ENTRYPOINT ["/app"]
