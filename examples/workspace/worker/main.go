// worker is the workspace's other program; it uses only the workspace's lib.
package main

import (
	"fmt"

	"example.com/ws/lib"
)

func main() {
	fmt.Println("worker: " + lib.Describe("working"))
}
