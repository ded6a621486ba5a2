// Package banner is a test module served by the e2e tests' local Go module proxy; it depends
// on example.com/color.
package banner

import "example.com/color"

// Banner frames the painted s.
func Banner(s string) string {
	return "*** " + color.Paint(s) + " ***"
}
