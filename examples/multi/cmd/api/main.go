// api is the first of two binaries in one image: the image's entrypoint.
package main

import (
	"fmt"

	"example.com/multi/internal/version"
)

func main() {
	fmt.Println(version.Describe("api"))
}
