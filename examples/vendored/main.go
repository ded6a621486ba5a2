// vendored builds from its committed vendor/ directory: no module download at all.
package main

import (
	"fmt"

	"example.com/greet"
)

func main() {
	fmt.Println("vendored: " + greet.Hello("vendor"))
}
