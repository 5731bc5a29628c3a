// Command dashgen writes the dashboards of package dashboards as Grafana
// JSON into deploy/grafana/dashboards, and the offline view's list of them
// into deploy/prometheus/view/dashboards.json. Run from the repository root
// (`make dashboards`); the dashboards test fails while the files are stale.
package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"scalelab/tests/dashboards"
)

func main() {
	if err := write("."); err != nil {
		fmt.Fprintln(os.Stderr, "dashgen:", err)
		os.Exit(1)
	}
}

func write(root string) error {
	files, err := dashboards.Files()
	if err != nil {
		return err
	}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		b := files[path]
		if err := os.WriteFile(filepath.Join(root, path), b, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}
