// Package secret is a private test module: the e2e tests serve it from a bare git repository
// over SSH on 127.0.0.1. It requires a public module (example.com/greet, from the local module
// proxy), so a build that uses it fetches from both.
package secret

import "example.com/greet"

// Reveal greets name and says where it came from.
func Reveal(name string) string {
	return greet.Hello(name) + ", from private.example/team/secret.git v1.0.0"
}
