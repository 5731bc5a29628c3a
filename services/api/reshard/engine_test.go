package reshard

import (
	"slices"
	"testing"

	"scalelab/services/api/shardmap"
)

func TestTarget(t *testing.T) {
	e := &Engine{known: []string{"a", "b", "c", "d"}}
	three := shardmap.Map{Version: 1, Router: "modulo", DSNs: []string{"a", "b", "c"}}
	four := shardmap.Map{Version: 2, Router: "modulo", DSNs: []string{"a", "b", "c", "d"}}
	tests := []struct {
		name    string
		cur     shardmap.Map
		n       int
		router  string
		want    shardmap.Map
		wantErr string
	}{
		{"grow appends the next known shard", three, 4, "", shardmap.Map{Version: 2, Router: "modulo", DSNs: []string{"a", "b", "c", "d"}}, ""},
		{"shrink drops the last shard", four, 3, "", shardmap.Map{Version: 3, Router: "modulo", DSNs: []string{"a", "b", "c"}}, ""},
		{"a new router", three, 3, "consistent", shardmap.Map{Version: 2, Router: "consistent", DSNs: []string{"a", "b", "c"}}, ""},
		{"zero shards", three, 0, "", shardmap.Map{}, "refusing --to 0: the tier needs at least 1 shard"},
		{"more than known", three, 5, "", shardmap.Map{}, "refusing --to 5: only 4 shards are known (the map's 3 and SHARD_DSNS); add the new shard's DSN to SHARD_DSNS"},
		{"unknown router", three, 4, "ring", shardmap.Map{}, `refusing: shard: unknown router "ring" (valid: modulo, consistent, jump, rendezvous)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Target(tt.cur, tt.n, tt.router)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Version != tt.want.Version || got.Router != tt.want.Router || !slices.Equal(got.DSNs, tt.want.DSNs) {
				t.Errorf("Target = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
