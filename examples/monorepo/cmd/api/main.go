// api is one of two services built from this module, each by its own spec.
package main

import (
	"fmt"
	"os"
)

var version = "unset"

func main() {
	fmt.Printf("api %s (LOG_FORMAT=%s)\n", version, os.Getenv("LOG_FORMAT"))
}
