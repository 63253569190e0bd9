package execstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// An execution's history is stored as one compressed value, not one row per
// event: a batch of ten mails has a few hundred events carrying about 24 KB
// of JSON per mail, and writing them as rows cost more CPU than any task of
// the pipeline. Readers always want the whole history of one execution, so
// nothing is lost by keeping it together.
//
// The value is a sequence of length-prefixed records, one per event (id,
// previous id, type, timestamp, details; integers as varints), compressed
// with zstd at its fastest level, which shrinks a history about tenfold.
// Details are kept byte for byte, whatever they hold.

// historyEncoding names the format in the histories table, so that another
// can be added without breaking stored data.
const historyEncoding = "events-v1+zstd"

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if zstdErr == nil {
			zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
		}
	})
	return zstdEnc, zstdDec, zstdErr
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// noTime marks a zero timestamp (a real one is milliseconds since 1970).
const noTime = -1 << 62

// encodeHistory returns the compressed history of events.
func encodeHistory(events []Event) ([]byte, error) { return appendHistory(nil, events) }

// appendHistory appends the compressed history of events to dst.
func appendHistory(dst []byte, events []Event) ([]byte, error) {
	enc, _, err := zstdCodec()
	if err != nil {
		return nil, err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	b = binary.AppendUvarint(b, uint64(len(events)))
	for _, ev := range events {
		b = binary.AppendVarint(b, ev.ID)
		b = binary.AppendVarint(b, ev.PreviousID)
		b = binary.AppendUvarint(b, uint64(len(ev.Type)))
		b = append(b, ev.Type...)
		ts := int64(noTime)
		if !ev.Timestamp.IsZero() {
			ts = ev.Timestamp.UnixMilli()
		}
		b = binary.AppendVarint(b, ts)
		b = binary.AppendUvarint(b, uint64(len(ev.Details)))
		b = append(b, ev.Details...)
	}
	*bp = b
	return enc.EncodeAll(b, dst), nil
}

var errCorrupt = errors.New("execstore: history is corrupt")

// decodeHistory is the inverse of encodeHistory.
func decodeHistory(encoding string, data []byte) ([]Event, error) {
	if encoding != historyEncoding {
		return nil, fmt.Errorf("execstore: unknown history encoding %q", encoding)
	}
	_, dec, err := zstdCodec()
	if err != nil {
		return nil, err
	}
	b, err := dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("execstore: history: %w", err)
	}
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	varint := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		v := b[:n:n]
		b = b[n:]
		return v, true
	}
	count, ok := uvarint()
	if !ok || count > uint64(len(b)) {
		return nil, errCorrupt
	}
	out := make([]Event, 0, count)
	for range count {
		var ev Event
		var typ []byte
		var ts int64
		var ok1, ok2, ok3, ok4, ok5 bool
		ev.ID, ok1 = varint()
		ev.PreviousID, ok2 = varint()
		typ, ok3 = bytesOf()
		ts, ok4 = varint()
		ev.Details, ok5 = bytesOf()
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return nil, errCorrupt
		}
		ev.Type = string(typ)
		if ts != noTime {
			ev.Timestamp = time.UnixMilli(ts).UTC()
		}
		if len(ev.Details) == 0 {
			ev.Details = nil
		}
		out = append(out, ev)
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return out, nil
}
