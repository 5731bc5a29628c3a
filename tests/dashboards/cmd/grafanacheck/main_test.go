package main

import (
	"encoding/json"
	"testing"
)

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       int
		wantErr    bool
	}{
		{"two series, one NaN sent as null", `{"results":{"A":{"status":200,"frames":[
			{"schema":{"fields":[{"name":"Time"},{"name":"Value"}]},"data":{"values":[[1764936000000],[0.5]]}},
			{"schema":{"fields":[{"name":"Time"},{"name":"Value"}]},"data":{"values":[[1764936000000],[null]]}}]}}}`, 1, false},
		{"no series", `{"results":{"A":{"status":200,"frames":[]}}}`, 0, false},
		{"a frame with no rows", `{"results":{"A":{"status":200,"frames":[{"schema":{},"data":{"values":[[],[]]}}]}}}`, 0, false},
		{"a refused query", `{"results":{"A":{"status":400,"error":"bad_data: parse error"}}}`, 0, true},
		{"no result for the query", `{"results":{}}`, 0, true},
	} {
		var r dsResponse
		if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		n, err := r.numbers("A")
		if n != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: numbers = %d, %v; want %d, error %v", tc.name, n, err, tc.want, tc.wantErr)
		}
	}
}
