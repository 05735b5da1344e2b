package zmtp

import (
	"fmt"
	"strings"
)

// z85Alphabet is the character set of ZeroMQ's Z85 encoding (RFC 32).
const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// Z85Encode encodes b, whose length must be a multiple of 4, as Z85
// text: 5 characters for every 4 bytes.
func Z85Encode(b []byte) (string, error) {
	if len(b)%4 != 0 {
		return "", fmt.Errorf("zmtp: Z85 input of %d bytes is not a multiple of 4", len(b))
	}
	out := make([]byte, 0, len(b)/4*5)
	for i := 0; i < len(b); i += 4 {
		v := uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
		var chunk [5]byte
		for j := 4; j >= 0; j-- {
			chunk[j] = z85Alphabet[v%85]
			v /= 85
		}
		out = append(out, chunk[:]...)
	}
	return string(out), nil
}

// Z85DecodeString decodes Z85 text, whose length must be a multiple
// of 5. It rejects characters outside the alphabet and groups whose
// value does not fit in 32 bits.
func Z85DecodeString(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("zmtp: Z85 text of %d characters is not a multiple of 5", len(s))
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := 0; j < 5; j++ {
			d := strings.IndexByte(z85Alphabet, s[i+j])
			if d < 0 {
				return nil, fmt.Errorf("zmtp: Z85 text has character %q at %d", s[i+j], i+j)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xffffffff {
			return nil, fmt.Errorf("zmtp: Z85 group at %d overflows 32 bits", i)
		}
		out = append(out, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return out, nil
}
