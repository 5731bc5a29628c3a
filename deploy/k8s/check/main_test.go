package check

import (
	"fmt"
	"os"
	"testing"
)

// root is the repository; overlay is what a laptop cluster applies (the
// base and everything an overlay adds).
const (
	root    = "../../.."
	overlay = "../overlays/kind"
)

var (
	rendered Objects
	reads    = map[string]Reads{} // by image target: api, lb, edge, origin
	targets  map[string][]int
)

func TestMain(m *testing.M) {
	if err := load(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func load() error {
	objs, err := Render(overlay)
	if err != nil {
		return err
	}
	rendered = Index(objs)
	if targets, err = ImageTargets(root); err != nil {
		return err
	}
	for name := range targets {
		r, err := ServiceReads(root, "scalelab/services/"+name+"/cmd/"+name)
		if err != nil {
			return err
		}
		reads[name] = r
	}
	return nil
}
