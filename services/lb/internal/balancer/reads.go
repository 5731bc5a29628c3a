package balancer

// ReadsRequest reports whether p looks at the request Pick is given. The
// policies of this package that pick by position or load do not; any other
// (Hash, or a policy added later) is assumed to, so that a caller that
// saves building a full *http.Request for the blind ones never starves one
// that routes by content.
func ReadsRequest(p Policy) bool {
	switch p.(type) {
	case *RoundRobin, *SmoothWeighted, *LeastConn, *LeastRequest, *Random:
		return false
	}
	return true
}
