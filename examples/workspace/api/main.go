// api is one of two programs of the workspace; it uses the workspace's lib and
// example.com/greet from a proxy.
package main

import (
	"fmt"

	"example.com/greet"
	"example.com/ws/lib"
)

func main() {
	fmt.Println("api: " + lib.Describe(greet.Hello("workspace")))
}
