// Package lib is the library module of the workspace; it needs example.com/color.
package lib

import "example.com/color"

// Describe paints s and says where it came from.
func Describe(s string) string {
	return "lib[" + color.Paint(s) + "]"
}
