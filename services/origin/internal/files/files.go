// Package files serves one folder over HTTP the way an origin server should
// for a CDN: with validators (a strong ETag and Last-Modified) that let
// caches and browsers ask "has it changed?", and a Cache-Control that tells
// them how long they need not ask at all.
package files

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Handler serves the files under a root folder for GET and HEAD.
// http.ServeContent does the protocol work: Range requests (206),
// conditional requests (304, 412) and HEAD.
type Handler struct {
	root         *os.Root
	cacheControl string // when no rule matches
	rules        Rules

	mu    sync.Mutex
	etags map[string]etag // by file name within root
}

// etag remembers a file's hash along with what identifies the version it
// was computed from: if the size or modification time changes, so may the
// content, and the hash is computed again.
type etag struct {
	size    int64
	modTime time.Time
	value   string
}

// New serves the files under root with the Cache-Control of the first of
// rules matching the URL path, or cacheControl when none does. os.Root
// confines every open to the folder, symlinks included, so no request path
// can reach a file outside it.
func New(root *os.Root, cacheControl string, rules ...Rule) *Handler {
	return &Handler{root: root, cacheControl: cacheControl, rules: rules, etags: make(map[string]etag)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := fileName(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, info, err := h.open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	tag, err := h.etag(name, f, info)
	if err != nil {
		http.Error(w, "could not read the file", http.StatusInternalServerError)
		return
	}

	w.Header().Set("ETag", tag)
	ct := contentType(info.Name())
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	cc, keys := h.cacheControl, surrogateKeys(ct)
	if rule, ok := h.rules.Find(r.URL.Path); ok {
		cc = rule.CacheControl
		if rule.SurrogateKey != "" {
			keys += " " + rule.SurrogateKey
		}
		if rule.Vary != "" {
			w.Header().Set("Vary", rule.Vary)
		}
	}
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("Surrogate-Key", keys)
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
}

// fileName turns a URL path into a name inside the root, refusing any ".."
// segment outright: the mux redirects literal "/../x" to "/x", but an
// encoded "/%2e%2e/x" arrives here decoded and must not be cleaned into
// something that works. os.Root would refuse an escape anyway; refusing
// early keeps the answer a plain 404.
func fileName(urlPath string) (string, bool) {
	if strings.ContainsAny(urlPath, "\\\x00") {
		return "", false
	}
	for seg := range strings.SplitSeq(urlPath, "/") {
		if seg == ".." {
			return "", false
		}
	}
	name := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if name == "" {
		name = "."
	}
	return filepath.FromSlash(name), true
}

// open opens a regular file, or the index.html of a directory.
func (h *Handler) open(name string) (*os.File, fs.FileInfo, error) {
	f, info, err := h.openFile(name)
	if err != nil {
		return nil, nil, err
	}
	if !info.IsDir() {
		return f, info, nil
	}
	f.Close()
	f, info, err = h.openFile(filepath.Join(name, "index.html"))
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, info, nil
}

func (h *Handler) openFile(name string) (*os.File, fs.FileInfo, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.IsDir() && !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, info, nil
}

// etag returns the strong ETag of the open file: the quoted hex SHA-256 of
// its content. Hashing an 8 MiB video costs milliseconds, so it is done once
// per file version, not per request. A content hash (rather than, say, size
// and mtime) gives every origin replica the same ETag for the same bytes.
func (h *Handler) etag(name string, f *os.File, info fs.FileInfo) (string, error) {
	h.mu.Lock()
	cached, ok := h.etags[name]
	h.mu.Unlock()
	if ok && cached.size == info.Size() && cached.modTime.Equal(info.ModTime()) {
		return cached.value, nil
	}

	// Hash outside the lock, so one big file does not stall every request.
	// Two first requests may both hash; they get the same answer.
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	value := `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
	h.mu.Lock()
	h.etags[name] = etag{size: info.Size(), modTime: info.ModTime(), value: value}
	h.mu.Unlock()
	return value, nil
}

// extraTypes covers extensions Go's built-in table lacks. Images built FROM
// scratch have no /etc/mime.types, and a video served as
// application/octet-stream would be downloaded instead of played.
var extraTypes = map[string]string{
	".mp4":  "video/mp4",
	".webm": "video/webm",
	".txt":  "text/plain; charset=utf-8",
	".ico":  "image/x-icon",
}

// surrogateKeys tags a file for CDN purges by key (the edge's
// `POST /cache/purge?key=`): every file is "assets", and each also has its
// kind, the major media type ("image", "video", "text"...).
func surrogateKeys(contentType string) string {
	kind, _, _ := strings.Cut(contentType, "/")
	if kind == "" {
		return "assets"
	}
	return "assets " + kind
}

func contentType(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return extraTypes[ext]
}
