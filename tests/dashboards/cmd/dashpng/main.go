// Command dashpng renders every panel of every dashboard, as the offline
// view draws it from a live Prometheus, to PNG files: one per dashboard
// and one per panel, for reports and for readers without a browser at hand.
//
//	dashpng -prometheus http://127.0.0.1:9090 -range 15m -out dashboards-png
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"scalelab/tests/dashboards"
	"scalelab/tests/dashboards/view"
)

func main() {
	prom := flag.String("prometheus", "http://127.0.0.1:9090", "the Prometheus serving the offline view")
	rng := flag.Duration("range", 15*time.Minute, "how far back each panel looks")
	out := flag.String("out", "dashboards-png", "folder for the PNG files")
	flag.Parse()
	if *rng < time.Minute {
		fmt.Fprintln(os.Stderr, "dashpng: -range must be at least 1m")
		os.Exit(2)
	}
	empty, err := render(*prom, int(rng.Seconds()), *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashpng:", err)
		os.Exit(1)
	}
	if len(empty) > 0 {
		fmt.Fprintf(os.Stderr, "dashpng: %d panels had no data (drive some load first):\n  %s\n", len(empty), strings.Join(empty, "\n  "))
	}
}

func render(prom string, rangeSeconds int, out string) (empty []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := view.Start(ctx, 1600, 1000)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	for _, d := range dashboards.All() {
		name := strings.TrimSuffix(d.File, ".json")
		p, err := b.Open(view.DashboardURL(prom, d.UID, rangeSeconds), time.Minute)
		if err != nil {
			return nil, err
		}
		if errs := p.Errors(); len(errs) > 0 {
			p.Close()
			return nil, fmt.Errorf("%s: the page reported errors (is %s up?): %s", name, prom, strings.Join(errs, "; "))
		}
		panels, err := p.Panels()
		if err != nil {
			p.Close()
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(out, name), 0o755); err != nil {
			p.Close()
			return nil, err
		}
		for i, pn := range panels {
			if pn.State != "ok" {
				empty = append(empty, name+": "+pn.Title+" ("+pn.State+")")
			}
			png, err := p.PanelScreenshot(pn.ID)
			if err == nil {
				err = write(filepath.Join(out, name, fmt.Sprintf("%02d-%s.png", i+1, slug(pn.Title))), png)
			}
			if err != nil {
				p.Close()
				return nil, err
			}
		}
		png, err := p.Screenshot()
		if err == nil {
			err = write(filepath.Join(out, name+".png"), png)
		}
		p.Close()
		if err != nil {
			return nil, err
		}
	}
	return empty, nil
}

func write(path string, b []byte) error {
	fmt.Println("wrote", path)
	return os.WriteFile(path, b, 0o644)
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
}
