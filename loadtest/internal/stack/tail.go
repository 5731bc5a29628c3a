package stack

import (
	"context"
	"strconv"
	"strings"
)

// Tail logs what a failure leaves to read: the project's containers with
// their state, and the last n lines of each service's log. An experiment
// that fails calls it before the stack is put back, which may recreate the
// very container that went wrong.
func (s *Stack) Tail(ctx context.Context, n int) {
	if ps, err := s.Compose(ctx, nil, "ps", "-a"); err == nil {
		s.Log("containers:\n%s", ps)
	} else {
		s.Log("compose ps: %v", err)
	}
	services, err := s.Compose(ctx, nil, "config", "--services")
	if err != nil {
		s.Log("compose config: %v", err)
		return
	}
	for _, svc := range strings.Fields(services) {
		out, err := s.Compose(ctx, nil, "logs", "--no-color", "--tail", strconv.Itoa(n), svc)
		if err != nil {
			s.Log("logs of %s: %v", svc, err)
			continue
		}
		if out = strings.TrimSpace(out); out != "" {
			s.Log("last %d log lines of %s:\n%s", n, svc, out)
		}
	}
}
