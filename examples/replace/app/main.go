// app uses example.com/rep/lib from the directory next to it (a replace directive), and lib
// needs example.com/greet v1.0.0 from a proxy.
package main

import (
	"fmt"

	"example.com/rep/lib"
)

func main() {
	fmt.Println("replace: " + lib.Greeting())
}
