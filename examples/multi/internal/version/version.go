// Package version holds what the build stamps into the binaries with -ldflags -X.
package version

// Version is set at link time: -X example.com/multi/internal/version.Version=...
var Version = "dev"

// Describe says which program of this module is running, at which version.
func Describe(program string) string {
	return program + " " + Version
}
