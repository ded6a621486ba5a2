// worker is the second binary of the image; `--target worker` builds an image with it alone.
package main

import (
	"fmt"

	"example.com/multi/internal/version"
)

func main() {
	fmt.Println(version.Describe("worker"))
}
