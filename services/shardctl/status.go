package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"scalelab/services/api/reshard"
	"scalelab/services/api/shardmap"
)

// status prints the map, rows per shard, the reshard in progress (or the
// last one) and the map version each replica routes by.
func status(ctx context.Context, e *reshard.Engine, replicas []string, w io.Writer) error {
	cur, err := e.Current(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "map: %s\n", reshard.Describe(cur))
	counts, err := e.Rows(ctx, cur)
	for i, n := range counts {
		fmt.Fprintf(w, "  shard %d: %d rows\n", i, n)
	}
	if err != nil {
		fmt.Fprintf(w, "  rows: %v\n", err)
	}
	st, err := e.State(ctx)
	switch {
	case errors.Is(err, shardmap.ErrNoReshard):
		fmt.Fprintln(w, "reshard: none yet")
	case err != nil:
		return err
	case st.Active():
		fmt.Fprintf(w, "reshard in progress: v%d → %s, phase %s, %d/%d rows read, %d moving, since %s\n",
			st.FromVersion, st.To.Describe(), st.Phase, st.RowsCopied, st.RowsTotal, st.RowsMoving, st.Started.Format(time.RFC3339))
		switch {
		case st.Frozen && st.FreezeLeft > 0:
			fmt.Fprintf(w, "writes paused for the cut-over; lease %v left\n", st.FreezeLeft.Round(time.Millisecond))
		case st.Frozen:
			fmt.Fprintf(w, "writes paused, lease expired %v ago: an api replica releases them at its next poll; run apply again to finish\n", (-st.FreezeLeft).Round(time.Millisecond))
		}
	default:
		fmt.Fprintf(w, "last reshard: v%d → %s, done %s, %d rows moved, verified %s, writes paused %v\n",
			st.FromVersion, st.To.Describe(), st.Updated.Format(time.RFC3339), st.RowsMoving, st.Verified, st.Pause)
	}
	for _, addr := range expand(ctx, replicas) {
		fmt.Fprintf(w, "replica %s: %s\n", addr, replicaMap(ctx, addr))
	}
	return nil
}

// expand resolves dns://host:port entries to every address of the name.
func expand(ctx context.Context, replicas []string) []string {
	var out []string
	for _, r := range replicas {
		rest, ok := strings.CutPrefix(r, "dns://")
		if !ok {
			out = append(out, strings.TrimSuffix(r, "/"))
			continue
		}
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			out = append(out, r+" (bad address: "+err.Error()+")")
			continue
		}
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			out = append(out, r+" (unresolved: "+err.Error()+")")
			continue
		}
		for _, ip := range ips {
			out = append(out, "http://"+net.JoinHostPort(ip, port))
		}
	}
	return out
}

// replicaMap asks one replica's admin /shardmap.
func replicaMap(ctx context.Context, addr string) string {
	if _, err := url.Parse(addr); err != nil || !strings.HasPrefix(addr, "http") {
		return "unreachable"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/shardmap", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	var m struct {
		Version int64
		Router  string
		Shards  int
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return "unreadable answer: " + err.Error()
	}
	return fmt.Sprintf("map v%d (%s over %d shards)", m.Version, m.Router, m.Shards)
}
