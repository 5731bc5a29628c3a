// Package dashboards holds the lab's dashboards as Go values, one file per
// chapter of the guide. They are written out (cmd/dashgen) as Grafana JSON
// into deploy/grafana/dashboards, which Grafana provisions and the offline
// view (deploy/prometheus/view) renders straight from Prometheus' query API:
// one definition, two viewers. Adding a panel is adding one panel(...) call
// and running `make dashboards`.
package dashboards

// Dashboard is one page: a chapter of the guide.
type Dashboard struct {
	UID   string // stable: links and bookmarks use it
	File  string // its file name under deploy/grafana/dashboards
	Title string
	// About says, in a sentence or two, what the chapter shows and how to
	// make it happen.
	About string
	Rows  []Row
}

// Row groups panels under a heading.
type Row struct {
	Title  string
	Panels []Panel
}

// Panel is one time-series graph.
type Panel struct {
	Title string
	// Description says what the user should see and why.
	Description string
	// Unit is a Grafana unit id; the offline view knows the same ones
	// (reqps, ops, percentunit, s, bytes, Bps, short).
	Unit    string
	Queries []Query
}

// Query is one PromQL expression and its legend (Grafana's {{label}} form).
type Query struct {
	Expr   string
	Legend string
}

func panel(title, unit, description string, queries ...Query) Panel {
	return Panel{Title: title, Unit: unit, Description: description, Queries: queries}
}

func q(expr, legend string) Query { return Query{Expr: expr, Legend: legend} }

// All is every dashboard, in the order of the guide's chapters.
func All() []Dashboard {
	return []Dashboard{Overview(), LoadBalancer(), Cache(), Shards(), CDN()}
}

// Exprs is every PromQL expression of every dashboard, each with where it
// comes from ("lb.json: Requests per backend").
func Exprs(ds []Dashboard) map[string][]string {
	out := map[string][]string{}
	for _, d := range ds {
		for _, r := range d.Rows {
			for _, p := range r.Panels {
				for _, q := range p.Queries {
					out[q.Expr] = append(out[q.Expr], d.File+": "+p.Title)
				}
			}
		}
	}
	return out
}
