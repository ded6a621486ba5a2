// private-ssh needs a private module, private.example/team/secret.git, fetched with git over
// SSH (the key stays in the ssh-agent of the machine running docker build), and public
// modules from a proxy: example.com/banner directly, example.com/greet through the private one.
package main

import (
	"fmt"

	"example.com/banner"
	"private.example/team/secret.git"
)

func main() {
	fmt.Println("private-ssh: " + banner.Banner(secret.Reveal("gopher")))
}
