package runlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCRC32C is a bit-at-a-time CRC-32C (reflected polynomial 0x82f63b78),
// independent of hash/crc32.
func testCRC32C(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for i := 0; i < 8; i++ {
			if c&1 != 0 {
				c = c>>1 ^ 0x82f63b78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func testMask(c uint32) uint32 { return (c>>15 | c<<17) + 0xa282ead8 }

func TestCRC32CVector(t *testing.T) {
	const want = 0xe3069283 // CRC-32C check value
	if got := testCRC32C([]byte("123456789")); got != want {
		t.Fatalf("test CRC-32C = %#x, want %#x", got, want)
	}
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != want {
		t.Fatalf("castagnoli table CRC = %#x, want %#x", got, want)
	}
	if got, want := maskedCRC([]byte("123456789")), testMask(want); got != want {
		t.Fatalf("maskedCRC = %#x, want %#x", got, want)
	}
}

// readTFRecords splits an event file into records, checking both CRCs.
func readTFRecords(data []byte) ([][]byte, error) {
	var recs [][]byte
	for off := 0; off < len(data); {
		if len(data)-off < 12 {
			return nil, fmt.Errorf("offset %d: short header", off)
		}
		lenBytes := data[off : off+8]
		n := binary.LittleEndian.Uint64(lenBytes)
		if got, want := binary.LittleEndian.Uint32(data[off+8:]), testMask(testCRC32C(lenBytes)); got != want {
			return nil, fmt.Errorf("offset %d: length crc %#x, want %#x", off, got, want)
		}
		off += 12
		if uint64(len(data)-off) < n+4 {
			return nil, fmt.Errorf("offset %d: short record", off)
		}
		rec := data[off : off+int(n)]
		off += int(n)
		if got, want := binary.LittleEndian.Uint32(data[off:]), testMask(testCRC32C(rec)); got != want {
			return nil, fmt.Errorf("offset %d: data crc %#x, want %#x", off, got, want)
		}
		off += 4
		recs = append(recs, rec)
	}
	return recs, nil
}

// pbField is one decoded protobuf field.
type pbField struct {
	num  int
	wire int
	u    uint64 // varint, fixed64, fixed32
	b    []byte // length-delimited
}

func testUvarint(b []byte, i int) (uint64, int, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if i >= len(b) {
			return 0, 0, errors.New("truncated varint")
		}
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i, nil
		}
	}
	return 0, 0, errors.New("varint too long")
}

func parsePB(b []byte) ([]pbField, error) {
	var fs []pbField
	for i := 0; i < len(b); {
		key, j, err := testUvarint(b, i)
		if err != nil {
			return nil, err
		}
		i = j
		f := pbField{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case 0:
			f.u, i, err = testUvarint(b, i)
		case 1:
			if i+8 > len(b) {
				return nil, errors.New("truncated fixed64")
			}
			f.u = uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
				uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
			i += 8
		case 2:
			var n uint64
			n, i, err = testUvarint(b, i)
			if err == nil && uint64(len(b)-i) < n {
				err = errors.New("truncated bytes")
			}
			if err == nil {
				f.b = b[i : i+int(n)]
				i += int(n)
			}
		case 5:
			if i+4 > len(b) {
				return nil, errors.New("truncated fixed32")
			}
			f.u = uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24
			i += 4
		default:
			return nil, fmt.Errorf("wire type %d", f.wire)
		}
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// testEvent is the decoded subset of tensorflow.Event.
type testEvent struct {
	wallTime    float64
	step        int64
	fileVersion string
	tags        []string
	values      []float32
}

func decodeTestEvent(rec []byte) (testEvent, error) {
	var ev testEvent
	fs, err := parsePB(rec)
	if err != nil {
		return ev, err
	}
	for _, f := range fs {
		switch {
		case f.num == 1 && f.wire == 1:
			ev.wallTime = math.Float64frombits(f.u)
		case f.num == 2 && f.wire == 0:
			ev.step = int64(f.u)
		case f.num == 3 && f.wire == 2:
			ev.fileVersion = string(f.b)
		case f.num == 5 && f.wire == 2:
			sum, err := parsePB(f.b)
			if err != nil {
				return ev, err
			}
			for _, sv := range sum {
				if sv.num != 1 || sv.wire != 2 {
					return ev, fmt.Errorf("summary field %d/%d", sv.num, sv.wire)
				}
				val, err := parsePB(sv.b)
				if err != nil {
					return ev, err
				}
				for _, vf := range val {
					switch {
					case vf.num == 1 && vf.wire == 2:
						ev.tags = append(ev.tags, string(vf.b))
					case vf.num == 2 && vf.wire == 5:
						ev.values = append(ev.values, math.Float32frombits(uint32(vf.u)))
					default:
						return ev, fmt.Errorf("value field %d/%d", vf.num, vf.wire)
					}
				}
			}
		default:
			return ev, fmt.Errorf("event field %d/%d", f.num, f.wire)
		}
	}
	return ev, nil
}

func TestEventWriterRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "tb")
	before := float64(time.Now().Unix()) - 1
	ew, err := NewEventWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(ew.Path())
	host, _ := os.Hostname()
	if !strings.HasPrefix(base, "events.out.tfevents.") || !strings.HasSuffix(base, "."+host) {
		t.Errorf("file name %q", base)
	}
	scalars := []struct {
		tag   string
		step  int64
		value float64
	}{
		{"train/loss", 1, 2.5},
		{"train/learning_rate", 1, 1e-5},
		{"train/loss", 2, 2.25},
		{"eval/loss", 300, 1.0 / 3},
		{"train/loss", 1 << 40, -0.5},
	}
	for _, s := range scalars {
		if err := ew.Scalar(s.tag, s.step, s.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := ew.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ew.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := ew.Scalar("x", 1, 1); err == nil {
		t.Error("Scalar after Close: no error")
	}

	data, err := os.ReadFile(ew.Path())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readTFRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(scalars) {
		t.Fatalf("%d records, want %d", len(recs), 1+len(scalars))
	}
	first, err := decodeTestEvent(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if first.fileVersion != "brain.Event:2" || first.step != 0 || len(first.tags) != 0 {
		t.Errorf("first event %+v", first)
	}
	after := float64(time.Now().Unix()) + 1
	if first.wallTime < before || first.wallTime > after {
		t.Errorf("wall_time %v not in [%v, %v]", first.wallTime, before, after)
	}
	for i, s := range scalars {
		ev, err := decodeTestEvent(recs[i+1])
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if ev.fileVersion != "" || ev.step != s.step || len(ev.tags) != 1 || ev.tags[0] != s.tag ||
			len(ev.values) != 1 || ev.values[0] != float32(s.value) {
			t.Errorf("record %d = %+v, want tag %q step %d value %v", i+1, ev, s.tag, s.step, float32(s.value))
		}
		if ev.wallTime < before || ev.wallTime > after {
			t.Errorf("record %d wall_time %v", i+1, ev.wallTime)
		}
	}

	// The reader does catch corruption.
	bad := append([]byte(nil), data...)
	bad[len(bad)-5] ^= 1
	if _, err := readTFRecords(bad); err == nil {
		t.Error("corrupted file read without error")
	}
}

func TestEventWriterFileNames(t *testing.T) {
	dir := t.TempDir()
	fixed := func() time.Time { return time.Unix(1700000000, 250e6) }
	a, err := newEventWriter(dir, fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newEventWriter(dir, fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	want := filepath.Join(dir, "events.out.tfevents.1700000000."+host)
	if a.Path() != want || b.Path() != want+".1" {
		t.Errorf("paths %q, %q; want %q and %q", a.Path(), b.Path(), want, want+".1")
	}
	data, err := os.ReadFile(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readTFRecords(data)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %d, %v", len(recs), err)
	}
	ev, err := decodeTestEvent(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.wallTime != 1700000000.25 {
		t.Errorf("wall_time %v, want 1700000000.25", ev.wallTime)
	}
}

func TestEventWriterBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewEventWriter(filepath.Join(file, "sub"))
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("error %v does not name %s", err, file)
	}
}
