package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunRefusesBadUse(t *testing.T) {
	env := map[string]string{}
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"shardctl"}, env, "usage: shardctl status"},
		{[]string{"shardctl", "grow"}, env, `unknown command "grow"`},
		{[]string{"shardctl", "plan"}, env, "plan needs --to N"},
		{[]string{"shardctl", "apply", "--to", "x"}, env, `invalid value "x" for flag -to`},
		{[]string{"shardctl", "apply", "--to", "4", "--lease", "100ms"}, env, "--lease 100ms: must be at least 300ms"},
		{[]string{"shardctl", "status"}, env, "invalid configuration: SHARD_MAP_DSN: is required"},
		{[]string{"shardctl", "status"}, map[string]string{"SHARD_MAP_DSN": "postgres://x@h/db"}, "invalid configuration: SHARD_DSNS: is required"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
