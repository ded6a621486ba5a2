// private-token needs a private module, tokens.example/team/vault.git, fetched with git over
// HTTPS with a token (a build secret, never part of the build graph or the image).
package main

import (
	"fmt"

	"tokens.example/team/vault.git"
)

func main() {
	fmt.Println("private-token: " + vault.Open())
}
