package runlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// A TensorBoard event-file writer that needs neither TensorFlow nor a
// protobuf library.
//
// An event file is a sequence of TFRecords, each
//
//	uint64 length (little endian)
//	uint32 masked CRC-32C of the 8 length bytes
//	length bytes of data (one serialized tensorflow.Event)
//	uint32 masked CRC-32C of the data
//
// where CRC-32C is the Castagnoli CRC and mask(c) = ((c >> 15) | (c << 17))
// + 0xa282ead8 (32-bit arithmetic). The first event carries only
// wall_time and file_version "brain.Event:2"; each scalar is an Event with
// wall_time, step and a Summary holding one Value{tag, simple_value}.
//
// The protobuf fields written (tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto):
//
//	Event:         1 wall_time double, 2 step int64, 3 file_version string,
//	               5 summary Summary
//	Summary:       1 value repeated Summary.Value
//	Summary.Value: 1 tag string, 2 simple_value float

// castagnoli is the CRC-32C table used by TFRecord framing.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC returns TFRecord's masked CRC-32C of b.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// EventWriter appends scalars to a TensorBoard event file. Its methods
// are safe for concurrent use. Records are buffered: call Flush to make
// them visible to a running TensorBoard, and Close at the end of the run.
type EventWriter struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer
	err  error // first write error; later calls return it
	now  func() time.Time
}

// NewEventWriter creates dir (like mkdir -p) and a new event file
// "events.out.tfevents.<unix seconds>.<hostname>" in it, and writes the
// file-version event. If that name is taken (two writers started in the
// same second), ".1", ".2", ... is appended; TensorBoard reads any file
// whose name contains "tfevents".
func NewEventWriter(dir string) (*EventWriter, error) {
	return newEventWriter(dir, time.Now)
}

func newEventWriter(dir string, now func() time.Time) (*EventWriter, error) {
	if err := os.MkdirAll(dir, atomicfile.DirMode); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	t := now()
	base := filepath.Join(dir, "events.out.tfevents."+strconv.FormatInt(t.Unix(), 10)+"."+host)
	var f *os.File
	path := base
	for i := 1; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 1000 {
			return nil, fmt.Errorf("tensorboard: %w", err)
		}
		path = base + "." + strconv.Itoa(i)
	}
	ew := &EventWriter{path: path, f: f, w: bufio.NewWriter(f), now: now}
	var ev []byte
	ev = appendFixed64Field(ev, 1, math.Float64bits(wallTime(t)))
	ev = appendBytesField(ev, 3, []byte("brain.Event:2"))
	if err := ew.writeRecord(ev); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := ew.flushLocked(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return ew, nil
}

// Path returns the event file's path.
func (ew *EventWriter) Path() string { return ew.path }

// Scalar appends one scalar event: tag at step with value, stored as a
// float32 simple_value, timestamped now.
func (ew *EventWriter) Scalar(tag string, step int64, value float64) error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.f == nil {
		return fmt.Errorf("tensorboard %s: write after close", ew.path)
	}
	var val []byte
	val = appendBytesField(val, 1, []byte(tag))
	val = appendFixed32Field(val, 2, math.Float32bits(float32(value)))
	var sum []byte
	sum = appendBytesField(sum, 1, val)
	var ev []byte
	ev = appendFixed64Field(ev, 1, math.Float64bits(wallTime(ew.now())))
	ev = appendVarintField(ev, 2, uint64(step))
	ev = appendBytesField(ev, 5, sum)
	return ew.writeRecord(ev)
}

// Flush writes buffered records to the file.
func (ew *EventWriter) Flush() error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.f == nil {
		return nil
	}
	return ew.flushLocked()
}

// Close flushes, fsyncs and closes the file. Closing twice is a no-op.
func (ew *EventWriter) Close() error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.f == nil {
		return nil
	}
	err := ew.flushLocked()
	if err == nil {
		if serr := ew.f.Sync(); serr != nil {
			err = fmt.Errorf("tensorboard %s: %w", ew.path, serr)
		}
	}
	if cerr := ew.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("tensorboard %s: %w", ew.path, cerr)
	}
	ew.f = nil
	return err
}

func (ew *EventWriter) flushLocked() error {
	if ew.err != nil {
		return ew.err
	}
	if err := ew.w.Flush(); err != nil {
		ew.err = fmt.Errorf("tensorboard %s: %w", ew.path, err)
	}
	return ew.err
}

// writeRecord frames data as one TFRecord.
func (ew *EventWriter) writeRecord(data []byte) error {
	if ew.err != nil {
		return ew.err
	}
	var hdr [12]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], maskedCRC(hdr[:8]))
	var foot [4]byte
	binary.LittleEndian.PutUint32(foot[:], maskedCRC(data))
	for _, b := range [][]byte{hdr[:], data, foot[:]} {
		if _, err := ew.w.Write(b); err != nil {
			ew.err = fmt.Errorf("tensorboard %s: %w", ew.path, err)
			return ew.err
		}
	}
	return nil
}

// wallTime is t in seconds since the epoch, with sub-second precision.
func wallTime(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// Protobuf wire encoding (only what events need).

const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func appendTag(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field)<<3|uint64(wire))
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	b = appendTag(b, field, wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendFixed64Field(b []byte, field int, v uint64) []byte {
	b = appendTag(b, field, wireFixed64)
	return binary.LittleEndian.AppendUint64(b, v)
}

func appendFixed32Field(b []byte, field int, v uint32) []byte {
	b = appendTag(b, field, wireFixed32)
	return binary.LittleEndian.AppendUint32(b, v)
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = appendTag(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
