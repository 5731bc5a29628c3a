package main

import (
	"strings"
	"testing"
)

func TestParseNames(t *testing.T) {
	none := func(string) string { return "" }
	if _, err := parse(nil, none); err == nil || !strings.Contains(err.Error(), "NAME is required") {
		t.Errorf("no name: %v", err)
	}
	if _, err := parse([]string{"-name", "nope"}, none); err == nil || !strings.Contains(err.Error(), `NAME="nope": no such experiment`) {
		t.Errorf("bad name: %v", err)
	}
	o, err := parse(nil, func(k string) string { return map[string]string{"NAME": "cache", "SHORT": "1"}[k] })
	if err != nil || len(o.names) != 1 || o.names[0].Name != "cache" || !o.short {
		t.Errorf("NAME=cache SHORT=1: %+v %v", o, err)
	}
}
