// Command build builds (or finds cached) the local MariaDB image
// switchyard/mariadb-local:10.11 from the host's mariadbd. Run it through
// docker/image/build.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/switchyard/switchyard/docker"
)

func main() {
	tag := flag.String("tag", docker.DefaultImage, "image reference to build")
	endpoint := flag.String("endpoint", "", "Docker endpoint (default $DOCKER_HOST or the local socket)")
	flag.Parse()
	start := time.Now()
	cli, err := docker.NewClient(*endpoint)
	if err == nil {
		var id string
		id, err = docker.EnsureImage(context.Background(), cli, *tag)
		if err == nil {
			fmt.Printf("%s %s (%s)\n", *tag, id, time.Since(start).Round(time.Millisecond))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "build:", err)
	os.Exit(1)
}
