// Command origin is the CDN lab's origin server: static assets with caching
// headers, and a small dynamic endpoint. See run.go.
package main

import "scalelab/services/platform"

func main() { platform.Main(run) }
