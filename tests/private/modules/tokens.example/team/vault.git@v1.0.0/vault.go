// Package vault is a private test module: the e2e tests serve it from a bare git repository
// over git's smart HTTP protocol on 127.0.0.1, behind basic authentication.
package vault

// Open says which module and version answered.
func Open() string {
	return "opened tokens.example/team/vault.git v1.0.0"
}
