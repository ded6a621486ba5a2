// Package color is a test module served by the e2e tests' local Go module proxy.
package color

// Paint wraps s in a (pretend) red tag.
func Paint(s string) string {
	return "<red>" + s + "</red>"
}
