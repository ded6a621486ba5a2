// worker is the other service built from this module, by worker.go-build.yaml.
package main

import (
	"fmt"
	"os"
)

var version = "unset"

func main() {
	fmt.Printf("worker %s (LOG_FORMAT=%s)\n", version, os.Getenv("LOG_FORMAT"))
}
