package version

import "testing"

func TestDescribe(t *testing.T) {
	if got := Describe("api"); got != "api "+Version {
		t.Fatalf("Describe(api) = %q", got)
	}
}
