// Package extra is a test module served by the e2e tests' local Go module proxy; tests add a
// requirement on it to a go.mod that did not have one.
package extra

// Extra names this module and version.
func Extra() string {
	return "extra v1.0.0"
}
