package check

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		headLen int
		status  int
		badStat bool
		clen    int64
		err     error
	}{
		{"plain", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", 38, 200, false, 5, nil},
		{"no reason", "HTTP/1.1 404\r\n\r\n", 16, 404, false, -1, nil},
		{"lowercase header not seen", "HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nhelloworld", 38, 200, false, -1, nil},
		{"no space after colon", "HTTP/1.0 200 OK\r\nContent-Length:2\r\n\r\nx", 37, 200, false, 2, nil},
		{"tab and plus", "HTTP/1.0 200 OK\r\nContent-Length:\t+2\r\n\r\nx", 39, 200, false, 2, nil},
		{"trailing space rejected", "HTTP/1.0 200 OK\r\nContent-Length: 2 \r\n\r\nx", 39, 200, false, -1, nil},
		{"negative", "HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\nx", 39, 200, false, -1, nil},
		{"overflow", "HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nx", 60, 200, false, -1, nil},
		{"first of two", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nx", 57, 200, false, 2, nil},
		{"in body, as keepalived", "HTTP/1.0 200 OK\r\n\r\nabc Content-Length: 2\r\n", 19, 200, false, 2, nil},
		{"in body at end", "HTTP/1.0 200 OK\r\n\r\nabcContent-Length: 2", 19, 200, false, 2, nil},
		{"hidden behind NUL", "HTTP/1.0 200 OK\r\nX: \x00\r\nContent-Length: 2\r\n\r\nhello", 44, 200, false, -1, nil},
		{"empty value is zero", "HTTP/1.0 200 OK\r\nContent-Length:\r\n\r\nhello", 36, 200, false, 0, nil},
		{"LF after value", "HTTP/1.0 200 OK\r\nX: a\r\nContent-Length: 2\nY: b\r\n\r\nhello", 49, 200, false, 2, nil},
		{"garbage status", "garbage\r\n\r\nhello", 11, 0, true, -1, nil},
		{"two digit status", "HTTP/1.0 20 OK\r\n\r\n", 18, 0, true, -1, nil},
		{"status glued to reason", "HTTP/1.0 200OK\r\n\r\n", 18, 0, true, -1, nil},
		{"bad version", "HTTP/x 200 OK\r\n\r\n", 17, 0, true, -1, nil},
		{"incomplete", "HTTP/1.0 200 OK\r\n", 0, 0, false, 0, ErrIncompleteHead},
		{"LF only is incomplete", "HTTP/1.0 200 OK\n\nhello", 0, 0, false, 0, ErrIncompleteHead},
		{"too large", "HTTP/1.0 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n", 0, 0, false, 0, ErrHeadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseResponse([]byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if h.HeadLen != tt.headLen || h.Status != tt.status || (h.StatusErr != nil) != tt.badStat || h.ContentLength != tt.clen {
				t.Fatalf("got headLen=%d status=%d statusErr=%v clen=%d; want %d %d bad=%v %d",
					h.HeadLen, h.Status, h.StatusErr, h.ContentLength, tt.headLen, tt.status, tt.badStat, tt.clen)
			}
			if tt.badStat && !errors.Is(h.StatusErr, ErrMalformedStatus) {
				t.Fatalf("StatusErr %v does not wrap ErrMalformedStatus", h.StatusErr)
			}
		})
	}
}

func TestParseResponseHeadLimit(t *testing.T) {
	// keepalived accepts a head that ends exactly at byte 4095, not 4096 (measured with genhash).
	mk := func(total int) []byte {
		base := "HTTP/1.0 200 OK\r\nX-Pad: "
		return []byte(base + strings.Repeat("a", total-len(base)-4) + "\r\n\r\nhello")
	}
	if _, err := ParseResponse(mk(4095)); err != nil {
		t.Fatalf("4095-byte head: %v", err)
	}
	if _, err := ParseResponse(mk(4096)); !errors.Is(err, ErrHeadTooLarge) {
		t.Fatalf("4096-byte head: err = %v, want ErrHeadTooLarge", err)
	}
}

func FuzzParseResponse(f *testing.F) {
	// Seeds: a normal response, a chunked one, keepalived's body-search quirk,
	// an oversized number, a NUL before the header, and a garbage status line.
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nabc Content-Length: 2\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\nX: \x00\r\nContent-Length: 2\r\n\r\nhello"))
	f.Add([]byte("garbage\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseResponse(b)
		if err != nil {
			if !errors.Is(err, ErrIncompleteHead) && !errors.Is(err, ErrHeadTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if h.HeadLen < 4 || h.HeadLen > len(b) || h.HeadLen > MaxHeadBytes {
			t.Fatalf("HeadLen %d out of range (len %d)", h.HeadLen, len(b))
		}
		if string(b[h.HeadLen-4:h.HeadLen]) != "\r\n\r\n" {
			t.Fatalf("head does not end with CRLFCRLF")
		}
		if (h.StatusErr == nil) != (h.Status >= 100 && h.Status <= 999) {
			t.Fatalf("status %d inconsistent with StatusErr %v", h.Status, h.StatusErr)
		}
		if h.ContentLength < -1 {
			t.Fatalf("ContentLength %d", h.ContentLength)
		}
	})
}
