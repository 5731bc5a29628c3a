package dashboards

import (
	"encoding/json"
	"fmt"
)

// Grafana's dashboard JSON model, only the part these dashboards use.
// Written by hand rather than with grafana-foundation-sdk: the model needed
// is a dozen fields, and the same Go values also feed the offline view,
// which the SDK knows nothing about.

type gfDashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Editable      bool        `json:"editable"`
	Refresh       string      `json:"refresh"`
	Time          gfTime      `json:"time"`
	Links         []gfLink    `json:"links"`
	Panels        []gfPanel   `json:"panels"`
	Templating    gfTemplates `json:"templating"`
}

type gfTime struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type gfLink struct {
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Tags       []string `json:"tags"`
	AsDropdown bool     `json:"asDropdown"`
}

type gfTemplates struct {
	List []any `json:"list"`
}

type gfPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     gfGridPos      `json:"gridPos"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Panels      []gfPanel      `json:"panels,omitempty"`
	Datasource  *gfDatasource  `json:"datasource,omitempty"`
	FieldConfig *gfFieldConfig `json:"fieldConfig,omitempty"`
	Options     *gfOptions     `json:"options,omitempty"`
	Targets     []gfTarget     `json:"targets,omitempty"`
}

type gfGridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type gfDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gfFieldConfig struct {
	Defaults  gfDefaults `json:"defaults"`
	Overrides []any      `json:"overrides"`
}

type gfDefaults struct {
	Unit string `json:"unit"`
	Min  *int   `json:"min,omitempty"`
}

type gfOptions struct {
	Legend  gfLegend  `json:"legend"`
	Tooltip gfTooltip `json:"tooltip"`
}

type gfLegend struct {
	DisplayMode string `json:"displayMode"`
	Placement   string `json:"placement"`
	ShowLegend  bool   `json:"showLegend"`
}

type gfTooltip struct {
	Mode string `json:"mode"`
	Sort string `json:"sort"`
}

type gfTarget struct {
	RefID        string       `json:"refId"`
	Expr         string       `json:"expr"`
	LegendFormat string       `json:"legendFormat"`
	Range        bool         `json:"range"`
	Datasource   gfDatasource `json:"datasource"`
}

// prometheusDS is the datasource deploy/grafana/provisioning names.
var prometheusDS = gfDatasource{Type: "prometheus", UID: "prometheus"}

// Panels per line and their size on Grafana's 24-column grid.
const (
	perLine     = 3
	panelWidth  = 24 / perLine
	panelHeight = 8
)

// GrafanaJSON renders d as a dashboard Grafana provisions from a file.
func GrafanaJSON(d Dashboard) ([]byte, error) {
	out := gfDashboard{
		UID: d.UID, Title: d.Title, Description: d.About,
		Tags: []string{"scalelab"}, Timezone: "browser", SchemaVersion: 39, Version: 1,
		Refresh: "5s", Time: gfTime{From: "now-15m", To: "now"},
		// Every scalelab dashboard links to the others.
		Links:      []gfLink{{Type: "dashboards", Title: "scalelab", Tags: []string{"scalelab"}, AsDropdown: false}},
		Templating: gfTemplates{List: []any{}},
		Panels:     []gfPanel{},
	}
	id, y := 0, 0
	notCollapsed := false
	zero := 0
	for _, r := range d.Rows {
		id++
		out.Panels = append(out.Panels, gfPanel{ID: id, Type: "row", Title: r.Title,
			GridPos: gfGridPos{H: 1, W: 24, X: 0, Y: y}, Collapsed: &notCollapsed, Panels: []gfPanel{}})
		y++
		for i, p := range r.Panels {
			if len(p.Queries) == 0 || p.Description == "" || p.Unit == "" {
				return nil, fmt.Errorf("%s: panel %q needs a query, a description and a unit", d.UID, p.Title)
			}
			id++
			gp := gfPanel{ID: id, Type: "timeseries", Title: p.Title, Description: p.Description,
				GridPos:     gfGridPos{H: panelHeight, W: panelWidth, X: (i % perLine) * panelWidth, Y: y + (i/perLine)*panelHeight},
				Datasource:  &prometheusDS,
				FieldConfig: &gfFieldConfig{Defaults: gfDefaults{Unit: p.Unit, Min: &zero}, Overrides: []any{}},
				Options: &gfOptions{Legend: gfLegend{DisplayMode: "list", Placement: "bottom", ShowLegend: true},
					Tooltip: gfTooltip{Mode: "multi", Sort: "desc"}},
			}
			for j, qr := range p.Queries {
				gp.Targets = append(gp.Targets, gfTarget{RefID: string(rune('A' + j)), Expr: qr.Expr,
					LegendFormat: qr.Legend, Range: true, Datasource: prometheusDS})
			}
			out.Panels = append(out.Panels, gp)
		}
		y += (len(r.Panels) + perLine - 1) / perLine * panelHeight
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ViewIndex is the list of dashboards the offline view offers, in order.
func ViewIndex(ds []Dashboard) ([]byte, error) {
	type entry struct {
		UID   string `json:"uid"`
		Title string `json:"title"`
		File  string `json:"file"`
	}
	var es []entry
	for _, d := range ds {
		es = append(es, entry{d.UID, d.Title, d.File})
	}
	b, err := json.MarshalIndent(es, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Files maps each generated file's path, from the repository root, to its
// contents.
func Files() (map[string][]byte, error) {
	all := All()
	files := map[string][]byte{}
	for _, d := range all {
		b, err := GrafanaJSON(d)
		if err != nil {
			return nil, err
		}
		files["deploy/grafana/dashboards/"+d.File] = b
	}
	idx, err := ViewIndex(all)
	if err != nil {
		return nil, err
	}
	files["deploy/prometheus/view/dashboards.json"] = idx
	return files, nil
}
