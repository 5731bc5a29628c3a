package shardmap

import "testing"

func TestRedactHidesThePassword(t *testing.T) {
	got := Redact("postgres://scalelab:secret@pg-users-3:5432/users?sslmode=disable")
	if got != "pg-users-3:5432/users" {
		t.Errorf("Redact = %q", got)
	}
}
