package intrinsic

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
)

// Resolver resolves a path argument ($..., $$..., $var...) given as written.
type Resolver func(path string) (any, error)

// Env holds the sources of randomness; nil fields use crypto-backed
// defaults. Tests inject fixed ones.
type Env struct {
	Random func() float64 // uniform in [0, 1)
	UUID   func() string  // a version 4 UUID
}

func (e Env) random() float64 {
	if e.Random != nil {
		return e.Random()
	}
	return cryptoFloat()
}

func (e Env) uuid() string {
	if e.UUID != nil {
		return e.UUID()
	}
	return cryptoUUID()
}

func cryptoFloat() float64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

func cryptoUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// javaRandom is java.util.Random: a seeded States.MathRandom must give the
// same number every time, and the JVM's generator is the one AWS has.
type javaRandom struct{ seed int64 }

const (
	javaMultiplier = 0x5DEECE66D
	javaMask       = 1<<48 - 1
)

func newJavaRandom(seed int64) *javaRandom {
	return &javaRandom{seed: (seed ^ javaMultiplier) & javaMask}
}

func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaMultiplier + 0xB) & javaMask
	return int32(r.seed >> (48 - bits))
}

// nextInt is Random.nextInt(bound) for bound > 0.
func (r *javaRandom) nextInt(bound int32) int32 {
	rv := r.next(31)
	m := bound - 1
	if bound&m == 0 {
		return int32((int64(bound) * int64(rv)) >> 31)
	}
	for u := rv; ; u = r.next(31) {
		rv = u % bound
		if u-rv+m >= 0 { // int32 overflow marks a biased draw
			return rv
		}
	}
}
