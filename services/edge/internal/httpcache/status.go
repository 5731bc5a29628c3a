package httpcache

import (
	"strconv"
	"strings"
	"time"
)

// cacheStatus is this cache's member of the Cache-Status header (RFC 9211).
type cacheStatus struct {
	hit       bool
	fwd       string // why the request went to the origin: uri-miss, vary-miss, stale, request, method, bypass
	fwdStatus int    // the status the origin answered
	stored    bool
	collapsed bool
	detail    string // an sf-token
}

// statusValue renders the Cache-Status member, with the entry's ttl when one
// answered.
func (c *Cache) statusValue(cs cacheStatus, e *Entry, now time.Time) string {
	var b strings.Builder
	b.WriteString(c.name)
	if cs.hit {
		b.WriteString("; hit")
	}
	if cs.fwd != "" {
		b.WriteString("; fwd=" + cs.fwd)
	}
	if cs.fwdStatus != 0 {
		b.WriteString("; fwd-status=" + strconv.Itoa(cs.fwdStatus))
	}
	if e != nil {
		b.WriteString("; ttl=" + strconv.FormatInt(int64(e.TTL(now)/time.Second), 10))
	}
	if cs.stored {
		b.WriteString("; stored")
	}
	if cs.collapsed {
		b.WriteString("; collapsed")
	}
	if cs.detail != "" {
		b.WriteString("; detail=" + cs.detail)
	}
	return b.String()
}

// sfItem renders a cache name as an RFC 8941 token when it is one, else as
// a string.
func sfItem(name string) string {
	token := name != "" && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z' || name[0] == '*')
	for i := 0; token && i < len(name); i++ {
		c := name[i]
		token = c > ' ' && c < 0x7f && strings.IndexByte(`"(),;<=>?@[\]{}`, c) < 0
	}
	if token {
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < ' ' || c >= 0x7f {
			continue
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
