// Command lb is scalelab's L7 load balancer: a round-robin reverse proxy
// over backends listed in LB_BACKENDS, some of them discovered through DNS.
package main

import "scalelab/services/platform"

func main() { platform.Main(run) }
