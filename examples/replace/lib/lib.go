// Package lib is the local replacement target of examples/replace/app.
package lib

import "example.com/greet"

// Greeting is what app prints.
func Greeting() string {
	return "lib says " + greet.Hello("replace")
}
