// withdeps needs modules from a proxy: example.com/greet v1.1.0 and example.com/banner v0.1.0,
// which brings example.com/color v1.0.0 with it.
package main

import (
	"fmt"

	"example.com/banner"
	"example.com/greet"
)

func main() {
	fmt.Println("withdeps: " + banner.Banner(greet.Hello("gopher")))
}
