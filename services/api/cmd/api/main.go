// Command api is a stateless replica: it answers who it is, and serves users
// from sharded PostgreSQL through a Redis cache.
package main

import "scalelab/services/platform"

func main() { platform.Main(run) }
