// cgo calls a C function, so the binary links against the C library and needs a runtime base
// that has it (debian-slim by default when build.cgo is on).
package main

/*
static int answer(void) { return 42; }
*/
import "C"

import "fmt"

func main() {
	fmt.Printf("cgo: the C library says %d\n", int(C.answer()))
}
