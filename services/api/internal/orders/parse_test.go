package orders

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

func TestParseOrder(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       CreateRequest
	}{
		{"valid", `{"item":"book","quantity":2,"amount_cents":1299}`, 0, CreateRequest{"book", 2, 1299}},
		{"free item", `{"item":"sticker","quantity":1,"amount_cents":0}`, 0, CreateRequest{"sticker", 1, 0}},
		{"trimmed item", `{"item":"  book ","quantity":1,"amount_cents":5}`, 0, CreateRequest{"book", 1, 5}},
		{"any field order", `{"amount_cents":7,"item":"pen","quantity":3}`, 0, CreateRequest{"pen", 3, 7}},
		{"max quantity", `{"item":"x","quantity":10000,"amount_cents":1}`, 0, CreateRequest{"x", MaxQuantity, 1}},
		{"unicode item", `{"item":"Bücher 📚","quantity":1,"amount_cents":1}`, 0, CreateRequest{"Bücher 📚", 1, 1}},
		{"unknown field", `{"item":"book","quantity":1,"amount_cents":1,"discount":5}`, 400, CreateRequest{}},
		{"missing item", `{"quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"missing quantity", `{"item":"book","amount_cents":1}`, 400, CreateRequest{}},
		{"missing amount", `{"item":"book","quantity":1}`, 400, CreateRequest{}},
		{"empty item", `{"item":"   ","quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"NUL in item", `{"item":"bo\u0000ok","quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"newline in item", `{"item":"bo\nok","quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"long item", `{"item":"` + strings.Repeat("a", MaxItemBytes+1) + `","quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"zero quantity", `{"item":"book","quantity":0,"amount_cents":1}`, 400, CreateRequest{}},
		{"negative quantity", `{"item":"book","quantity":-2,"amount_cents":1}`, 400, CreateRequest{}},
		{"huge quantity", `{"item":"book","quantity":10001,"amount_cents":1}`, 400, CreateRequest{}},
		{"quantity beyond int64", `{"item":"book","quantity":99999999999999999999,"amount_cents":1}`, 400, CreateRequest{}},
		{"fractional quantity", `{"item":"book","quantity":1.5,"amount_cents":1}`, 400, CreateRequest{}},
		{"quantity as string", `{"item":"book","quantity":"2","amount_cents":1}`, 400, CreateRequest{}},
		{"negative amount", `{"item":"book","quantity":1,"amount_cents":-1}`, 400, CreateRequest{}},
		{"huge amount", `{"item":"book","quantity":1,"amount_cents":100000000001}`, 400, CreateRequest{}},
		{"null item", `{"item":null,"quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"null body", `null`, 400, CreateRequest{}},
		{"array", `[]`, 400, CreateRequest{}},
		{"empty body", ``, 400, CreateRequest{}},
		{"not json", `item=book`, 400, CreateRequest{}},
		{"two objects", `{"item":"a","quantity":1,"amount_cents":1}{"item":"b","quantity":1,"amount_cents":1}`, 400, CreateRequest{}},
		{"too large", `{"item":"` + strings.Repeat("a", MaxBodyBytes) + `","quantity":1,"amount_cents":1}`, 413, CreateRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/users/1/orders", strings.NewReader(tt.body))
			got, status, err := ParseOrder(r, httptest.NewRecorder())
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%v), want %d", status, err, tt.wantStatus)
			}
			if tt.wantStatus != 0 && err == nil {
				t.Errorf("no error message for status %d", status)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseOrder(f *testing.F) {
	for _, s := range []string{
		`{"item":"book","quantity":2,"amount_cents":1299}`, `{}`, `[]`, `null`, ``,
		`{"item":"\u0000","quantity":1,"amount_cents":0}`, `{"quantity":1e400}`,
		`{"item":"a","quantity":1,"amount_cents":1}{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/users/1/orders", strings.NewReader(body))
		req, status, err := ParseOrder(r, httptest.NewRecorder())
		if (status == 0) != (err == nil) {
			t.Fatalf("status %d with error %v", status, err)
		}
		if status != 0 && status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", status)
		}
		if status != 0 {
			return
		}
		// Whatever is accepted must satisfy the table's CHECKs and
		// PostgreSQL's text type.
		if req.Item == "" || len(req.Item) > MaxItemBytes || strings.IndexFunc(req.Item, unicode.IsControl) >= 0 {
			t.Fatalf("accepted item %q", req.Item)
		}
		if req.Quantity < 1 || req.Quantity > MaxQuantity || req.AmountCents < 0 || req.AmountCents > MaxAmountCents {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		query   string
		want    int
		wantErr bool
	}{
		{"", DefaultLimit, false},
		{"other=1", DefaultLimit, false},
		{"limit=1", 1, false},
		{"limit=100", 100, false},
		{"limit=5&limit=7", 5, false},
		{"limit=", 0, true},
		{"limit=0", 0, true},
		{"limit=101", 0, true},
		{"limit=-1", 0, true},
		{"limit=+5", 0, true},
		{"limit=05", 0, true},
		{"limit=abc", 0, true},
		{"limit=99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := ParseLimit(q)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLimit(%q) = %d, %v; want %d, error=%v", tt.query, got, err, tt.want, tt.wantErr)
		}
	}
}
