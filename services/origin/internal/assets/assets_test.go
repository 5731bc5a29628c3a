package assets

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "assets") // does not exist yet
	const videoSize = 100_000
	written, err := WriteMissing(dir, videoSize)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{Index, Logo, Video}; !slices.Equal(written, want) {
		t.Errorf("written = %v, want %v", written, want)
	}

	info, err := os.Stat(filepath.Join(dir, Video))
	if err != nil || info.Size() != videoSize {
		t.Errorf("video: %v, size %d, want %d", err, info.Size(), videoSize)
	}
	logo, err := os.ReadFile(filepath.Join(dir, Logo))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(logo)); err != nil || img.Bounds().Dx() != 64 {
		t.Errorf("logo is not a 64px PNG: %v", err)
	}
	index, _ := os.ReadFile(filepath.Join(dir, Index))
	for _, link := range []string{`src="logo.png"`, `href="video.mp4"`} {
		if !strings.Contains(string(index), link) {
			t.Errorf("index.html lacks %s", link)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("dir holds %d entries, want 3 (no temporary files left)", len(entries))
	}
}

func TestWriteMissingKeepsExistingFiles(t *testing.T) {
	dir := t.TempDir()
	own := filepath.Join(dir, Index)
	if err := os.WriteFile(own, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	written, err := WriteMissing(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(written, []string{Logo, Video}) {
		t.Errorf("written = %v", written)
	}
	if b, _ := os.ReadFile(own); string(b) != "mine" {
		t.Errorf("index.html overwritten: %q", b)
	}
}

// Every origin replica must produce the same video, so that they agree on
// its ETag.
func TestVideoIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if _, err := WriteMissing(dir, 4096); err != nil {
			t.Fatal(err)
		}
	}
	va, _ := os.ReadFile(filepath.Join(a, Video))
	vb, _ := os.ReadFile(filepath.Join(b, Video))
	if !bytes.Equal(va, vb) || bytes.Equal(va, make([]byte, len(va))) {
		t.Error("videos differ, or are all zeros")
	}
}

func TestWriteMissingUnwritable(t *testing.T) {
	// A folder "inside" a regular file can't be created, even by root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteMissing(filepath.Join(file, "assets"), 10); err == nil {
		t.Error("WriteMissing into an impossible folder succeeded")
	}
}
