// Package greet is a test module served by the e2e tests' local Go module proxy.
package greet

// Hello greets name; the text names this version.
func Hello(name string) string {
	return "hi there, " + name + " (greet v1.1.0)"
}
