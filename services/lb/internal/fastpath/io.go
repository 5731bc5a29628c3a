package fastpath

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"

	"scalelab/services/lb/internal/forward"
)

// bufSize is where every connection's buffers start; a read buffer grows
// (up to the head limit) only for a head or small body that does not fit,
// and shrinks back once it is empty, unless it is small enough to keep.
const bufSize = 4 << 10

var errHeadTooLarge = &headError{431, "request head too large"}

// connReader buffers what a connection sent and is not consumed yet. It is
// a bufio.Reader that can grow, and that exposes its buffer, so that heads
// are parsed where they lie.
type connReader struct {
	conn net.Conn
	buf  []byte
	r, w int
}

func (b *connReader) buffered() []byte { return b.buf[b.r:b.w] }

func (b *connReader) consume(n int) {
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
		if len(b.buf) > 2*maxBufferedBody {
			// A big head was a one-off; a buffer that grew for bodies
			// up to maxBufferedBody is kept, for the next one.
			b.buf = make([]byte, bufSize)
		}
	}
}

// fill reads once more from the connection, making room first: moving
// what is left to the front, or growing the buffer up to limit. It returns
// errHeadTooLarge when the buffer is full at limit. Moving invalidates
// slices of the buffer taken before.
func (b *connReader) fill(limit int) error {
	if b.w == len(b.buf) {
		switch {
		case b.r > 0:
			b.w = copy(b.buf, b.buf[b.r:b.w])
			b.r = 0
		case len(b.buf) >= limit:
			return errHeadTooLarge
		default:
			nb := make([]byte, min(2*len(b.buf), limit))
			b.w = copy(nb, b.buf[b.r:b.w])
			b.r, b.buf = 0, nb
		}
	}
	n, err := b.conn.Read(b.buf[b.w:])
	b.w += n
	if n > 0 {
		return nil // an error comes again on the next read
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// readAtLeast fills until n bytes are buffered (n within limit).
func (b *connReader) readAtLeast(n, limit int) error {
	for b.w-b.r < n {
		if err := b.fill(limit); err != nil {
			return err
		}
	}
	return nil
}

// line returns the next line (without CRLF) once it is buffered, and its
// length with the line end; lines longer than limit are an error.
func (b *connReader) line(limit int, before func() error) ([]byte, int, error) {
	for {
		if i := bytes.IndexByte(b.buffered(), '\n'); i >= 0 {
			line := b.buf[b.r : b.r+i]
			if len(line) == 0 || line[len(line)-1] != '\r' {
				return nil, 0, errBadChunk
			}
			return line[:len(line)-1], i + 1, nil
		}
		if b.w-b.r >= limit {
			return nil, 0, errBadChunk
		}
		if before != nil {
			if err := before(); err != nil {
				return nil, 0, err
			}
		}
		if err := b.fill(max(limit, bufSize)); err != nil {
			return nil, 0, err
		}
	}
}

// outBuf collects what is written to a connection, so that a head and a
// small body leave in one write.
type outBuf struct {
	conn    net.Conn
	b       []byte
	written int64 // bytes that reached the connection
}

func (o *outBuf) flush() error {
	if len(o.b) == 0 {
		return nil
	}
	n, err := o.conn.Write(o.b)
	o.written += int64(n)
	o.b = o.b[:0]
	return err
}

// write appends p, or when the buffer would outgrow its start size,
// flushes and writes p straight through.
func (o *outBuf) write(p []byte) error {
	if len(o.b)+len(p) <= cap(o.b) || len(o.b)+len(p) <= 16<<10 {
		o.b = append(o.b, p...)
		return nil
	}
	if err := o.flush(); err != nil {
		return err
	}
	n, err := o.conn.Write(p)
	o.written += int64(n)
	return err
}

func (o *outBuf) str(s string) { o.b = append(o.b, s...) }

// header appends "name: value\r\n".
func (o *outBuf) header(name string, value []byte) {
	o.b = append(o.b, name...)
	o.b = append(o.b, ": "...)
	o.b = append(o.b, value...)
	o.b = append(o.b, "\r\n"...)
}

// errBadChunk is a chunked body the lb cannot read one single way.
var errBadChunk = errors.New("malformed chunked encoding")

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4 << 10

// copyLength copies n body bytes from src to dst. Before src would block,
// dst is flushed, so that a slow body streams instead of waiting in a
// buffer; beforeRead runs then too (to clear or set deadlines).
func copyLength(dst *outBuf, src *connReader, n int64, beforeRead func() error) error {
	for n > 0 {
		if buf := src.buffered(); len(buf) > 0 {
			k := int(min(int64(len(buf)), n))
			if err := dst.write(buf[:k]); err != nil {
				return writeError{err}
			}
			src.consume(k)
			n -= int64(k)
			continue
		}
		if err := dst.flush(); err != nil {
			return writeError{err}
		}
		if beforeRead != nil {
			if err := beforeRead(); err != nil {
				return err
			}
		}
		if n > bufSize {
			// Straight from connection to connection: on Linux, TCPConn's
			// ReadFrom splices, and the bytes never enter user space.
			k, err := io.Copy(writerOnly{dst}, &io.LimitedReader{R: src.conn, N: n})
			n -= k
			if err != nil {
				return err
			}
			if n > 0 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err := src.fill(bufSize); err != nil {
			return eofUnexpected(err)
		}
	}
	return nil
}

// writerOnly hands io.Copy the connection itself (for its ReadFrom) while
// counting what was written and telling write errors from read errors.
type writerOnly struct{ o *outBuf }

func (w writerOnly) Write(p []byte) (int, error) {
	n, err := w.o.conn.Write(p)
	w.o.written += int64(n)
	if err != nil {
		err = writeError{err}
	}
	return n, err
}

func (w writerOnly) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.o.conn.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		w.o.written += n
		if err != nil {
			if ne := (*net.OpError)(nil); errors.As(err, &ne) && ne.Op == "write" {
				err = writeError{err}
			}
		}
		return n, err
	}
	return io.Copy(struct{ io.Writer }{w}, r)
}

// writeError marks a failure to write to the destination, as opposed to
// reading from the source: copying a response, it tells "the client left"
// from "the backend broke off".
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// copyChunked decodes a chunked body from src and writes it to dst chunked
// anew: what reaches the other side is framed by the lb, in one canonical
// form, whatever extensions or odd sizes the sender used. Trailers are
// dropped. With toClose, dst is instead a connection that ends the body by
// closing (an HTTP/1.0 client), and the data is written as is. A body
// longer than limit (when above 0) fails with forward.ErrBodyTooLarge.
func copyChunked(dst *outBuf, src *connReader, toClose bool, limit int64, beforeRead func() error) error {
	var total int64
	before := func() error {
		if err := dst.flush(); err != nil {
			return writeError{err}
		}
		if beforeRead != nil {
			return beforeRead()
		}
		return nil
	}
	for {
		line, n, err := src.line(maxChunkLine, before)
		if err != nil {
			return eofUnexpected(err)
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return errBadChunk
		}
		src.consume(n)
		if size == 0 {
			// Trailer section: lines up to an empty one.
			for {
				line, n, err := src.line(maxChunkLine, before)
				if err != nil {
					return eofUnexpected(err)
				}
				src.consume(n)
				if len(line) == 0 {
					break
				}
			}
			if !toClose {
				dst.str("0\r\n\r\n")
			}
			return nil
		}
		total += size
		if limit > 0 && total > limit {
			return forward.ErrBodyTooLarge
		}
		if !toClose {
			dst.b = strconv.AppendInt(dst.b, size, 16)
			dst.str("\r\n")
		}
		if err := copyLength(dst, src, size, beforeRead); err != nil {
			return err
		}
		if !toClose {
			dst.str("\r\n")
		}
		line, n, err = src.line(maxChunkLine, before)
		if err != nil {
			return eofUnexpected(err)
		}
		if len(line) != 0 {
			return errBadChunk
		}
		src.consume(n)
	}
}

// parseChunkSize reads "1a2b[;ext]" (at most 15 hex digits, no overflow).
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		for _, c := range line[i:] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, false
			}
		}
		line = trimOWS(line[:i])
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// copyUntilEOF copies a close-delimited body, chunking it for the client
// unless toClose.
func copyUntilEOF(dst *outBuf, src *connReader, toClose bool, beforeRead func() error) error {
	for {
		if buf := src.buffered(); len(buf) > 0 {
			if !toClose {
				dst.b = strconv.AppendInt(dst.b, int64(len(buf)), 16)
				dst.str("\r\n")
			}
			if err := dst.write(buf); err != nil {
				return writeError{err}
			}
			if !toClose {
				dst.str("\r\n")
			}
			src.consume(len(buf))
		}
		if err := dst.flush(); err != nil {
			return writeError{err}
		}
		if beforeRead != nil {
			if err := beforeRead(); err != nil {
				return err
			}
		}
		if err := src.fill(bufSize); err != nil {
			if err == io.EOF {
				if !toClose {
					dst.str("0\r\n\r\n")
				}
				return nil
			}
			return err
		}
	}
}
