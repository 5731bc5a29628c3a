// Command edge is a CDN edge node: a caching reverse proxy in front of the
// origin. See run.go.
package main

import "scalelab/services/platform"

func main() { platform.Main(run) }
