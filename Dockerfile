# Switchyard as a container: one static binary, nothing else.
#
# The binary is built on the host, so the image needs no base image and no
# network (a golang build stage would have to be pulled):
#
#   CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" \
#       -o bin/switchyard-linux-amd64 ./cmd/switchyard
#   docker build -t switchyard:local .
#
# (`make docker-image` does both.) The entrypoint is the binary; the default
# command serves /etc/switchyard/switchyard.yaml, which you mount.
FROM scratch
COPY bin/switchyard-linux-amd64 /switchyard
EXPOSE 6033 6032 9104
ENTRYPOINT ["/switchyard"]
CMD ["serve", "--config", "/etc/switchyard/switchyard.yaml"]
