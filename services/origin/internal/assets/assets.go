// Package assets writes the demo files the origin serves when it is given
// none: a page, a logo and a "video" heavy enough to make caching visible.
package assets

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Names of the demo files, in the order they are written.
const (
	Index = "index.html"
	Logo  = "logo.png"
	Video = "video.mp4"
)

// WriteMissing creates dir if needed and writes each demo file it lacks;
// files already there are left alone. It returns the names it wrote.
func WriteMissing(dir string, videoSize int64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logo, err := logoPNG()
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		size int64
		body func() io.Reader
	}{
		{Index, -1, func() io.Reader { return bytes.NewReader(indexHTML(videoSize)) }},
		{Logo, -1, func() io.Reader { return bytes.NewReader(logo) }},
		{Video, videoSize, func() io.Reader { return videoBytes() }},
	}
	var written []string
	for _, f := range files {
		target := filepath.Join(dir, f.name)
		if _, err := os.Stat(target); err == nil {
			continue
		}
		body := f.body()
		if f.size >= 0 {
			body = io.LimitReader(body, f.size)
		}
		if err := writeAtomically(target, body); err != nil {
			return written, err
		}
		written = append(written, f.name)
	}
	return written, nil
}

// writeAtomically writes to a temporary file and renames it into place, so
// a crash or a concurrent reader never sees half a video under the real name.
func writeAtomically(target string, body io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(target), ".tmp-"+filepath.Base(target)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.Copy(tmp, body); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

func indexHTML(videoSize int64) []byte {
	return fmt.Appendf(nil, `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>scalelab CDN demo</title></head>
<body>
<h1>scalelab CDN demo</h1>
<p><img src="logo.png" alt="scalelab logo" width="64" height="64"></p>
<p><a href="video.mp4">video.mp4</a>: %d bytes to fetch across the simulated distance.</p>
<p><a href="api/time">api/time</a>: the origin's clock, cacheable for 5 seconds.</p>
<p>Compare the X-Cache and Age headers of the same URL through each edge.</p>
</body>
</html>
`, videoSize)
}

// logoPNG draws a 64x64 ring, so the page shows a real image.
func logoPNG() ([]byte, error) {
	const size = 64
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			dx, dy := x-size/2, y-size/2
			d2 := dx*dx + dy*dy
			c := color.NRGBA{} // transparent
			if d2 >= 18*18 && d2 <= 30*30 {
				c = color.NRGBA{R: uint8(40 + 3*x), G: 120, B: uint8(40 + 3*y), A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// videoBytes is an endless stream of pseudo-random bytes from a fixed seed.
// It is not a playable video: the lab needs its weight, not its pictures.
// Random bytes don't compress, so no layer can cheat the transfer, and a
// fixed seed makes every origin replica write the same bytes, hence the
// same ETag.
func videoBytes() io.Reader {
	var seed [32]byte
	copy(seed[:], "scalelab demo video")
	return rand.NewChaCha8(seed)
}
