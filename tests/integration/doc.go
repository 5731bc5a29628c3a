// Package integration runs the project's own images (built by `make images`)
// in containers with testcontainers-go and checks them from the outside, as
// a user would: the lb over two api containers, the edge over an origin.
package integration
