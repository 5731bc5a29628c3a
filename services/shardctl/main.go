// Command shardctl shows and changes the users tier's shard map while the
// api serves it: status, plan and apply (online resharding). See run.go and
// docs/sharding.md.
package main

import "scalelab/services/platform"

func main() { platform.Main(run) }
