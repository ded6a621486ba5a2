// hello is the smallest program gobuild-frontend builds: stdlib only, one line of output that
// shows which user the runtime image runs it as.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("hello from gobuild-frontend (uid=%d gid=%d)\n", os.Getuid(), os.Getgid())
}
