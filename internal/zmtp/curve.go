package zmtp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// CURVE (RFC 25/ZMTP-CURVE over RFC 26/CurveZMQ). Notation: C and S are
// the client's and server's long-term keys, C' and S' the transient
// keys each side makes for one connection; Box[x](A->B) is x sealed
// with crypto_box by A's secret key for B's public key.
//
//	HELLO    C', short nonce, Box[64 zero bytes](C'->S)
//	WELCOME  long nonce, Box[S' + cookie](S->C')
//	         cookie = long nonce, SecretBox[C' + s'](K), K a key that
//	         exists only for this handshake
//	INITIATE cookie, short nonce, Box[C + vouch + metadata](C'->S')
//	         vouch = long nonce, Box[C' + S](C->S')
//	READY    short nonce, Box[metadata](S'->C')
//	MESSAGE  short nonce, Box[flags + frame](C'->S' or S'->C')
//
// Short nonces are 8-byte big-endian counters that must strictly
// increase in each direction; a repeated or smaller one is a replay.

// Sizes of the fixed parts of CURVE commands (bodies, without the name).
const (
	boxOverhead    = box.Overhead // 16
	helloBodySize  = 2 + 72 + KeySize + 8 + 64 + boxOverhead
	cookieSize     = 16 + 2*KeySize + secretbox.Overhead
	welcomeBodySiz = 16 + KeySize + cookieSize + boxOverhead
	vouchSize      = 16 + 2*KeySize + boxOverhead
	minInitiate    = cookieSize + 8 + KeySize + vouchSize + boxOverhead
	minReady       = 8 + boxOverhead
	minMessage     = 8 + boxOverhead + 1
)

// Nonce prefixes: 16 bytes before a short nonce, 8 before a long one.
const (
	prefixHello    = "CurveZMQHELLO---"
	prefixInitiate = "CurveZMQINITIATE"
	prefixReady    = "CurveZMQREADY---"
	prefixMsgC     = "CurveZMQMESSAGEC"
	prefixMsgS     = "CurveZMQMESSAGES"
	prefixWelcome  = "WELCOME-"
	prefixCookie   = "COOKIE--"
	prefixVouch    = "VOUCH---"
)

func shortNonce(prefix string, n uint64) *[24]byte {
	var b [24]byte
	copy(b[:], prefix)
	binary.BigEndian.PutUint64(b[16:], n)
	return &b
}

func longNonce(prefix string, n []byte) *[24]byte {
	var b [24]byte
	copy(b[:], prefix)
	copy(b[8:], n)
	return &b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("zmtp: crypto/rand failed: %v", err)) // cannot happen on supported platforms
	}
	return b
}

func keyPtr(k Key) *[KeySize]byte { return (*[KeySize]byte)(&k) }

func (c *Conn) curveClient(cfg Config) error {
	sec := cfg.Security
	tpub, tsec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	const helloNonce, initiateNonce = 1, 2
	hello := make([]byte, 2+72, helloBodySize)
	hello[0], hello[1] = 1, 0
	hello = append(hello, tpub[:]...)
	hello = binary.BigEndian.AppendUint64(hello, helloNonce)
	hello = box.Seal(hello, make([]byte, 64), shortNonce(prefixHello, helloNonce), keyPtr(sec.ServerKey), tsec)
	if err := c.writeHandshake(CmdHello, hello); err != nil {
		return err
	}

	welcome, err := c.expectCommand(CmdWelcome)
	if err != nil {
		return err
	}
	if len(welcome) != welcomeBodySiz {
		return fmt.Errorf("%w: WELCOME body of %d bytes, want %d", ErrProtocol, len(welcome), welcomeBodySiz)
	}
	opened, ok := box.Open(nil, welcome[16:], longNonce(prefixWelcome, welcome[:16]), keyPtr(sec.ServerKey), tsec)
	if !ok {
		return fmt.Errorf("%w: WELCOME does not open with the server key", ErrCrypto)
	}
	var serverT [KeySize]byte
	copy(serverT[:], opened[:KeySize])
	cookie := opened[KeySize:]

	vouchNonce := randomBytes(16)
	vouchPlain := append(append(make([]byte, 0, 2*KeySize), tpub[:]...), sec.ServerKey[:]...)
	vouch := box.Seal(vouchNonce, vouchPlain, longNonce(prefixVouch, vouchNonce), &serverT, keyPtr(sec.SecretKey))
	meta, err := readyMetadata(cfg)
	if err != nil {
		return err
	}
	plain := make([]byte, 0, KeySize+vouchSize+len(meta))
	plain = append(append(append(plain, sec.PublicKey[:]...), vouch...), meta...)
	initiate := make([]byte, 0, cookieSize+8+len(plain)+boxOverhead)
	initiate = append(initiate, cookie...)
	initiate = binary.BigEndian.AppendUint64(initiate, initiateNonce)
	initiate = box.Seal(initiate, plain, shortNonce(prefixInitiate, initiateNonce), &serverT, tsec)
	if err := c.writeHandshake(CmdInitiate, initiate); err != nil {
		return err
	}

	ready, err := c.expectCommand(CmdReady)
	if err != nil {
		return err
	}
	if len(ready) < minReady {
		return fmt.Errorf("%w: READY body of %d bytes", ErrProtocol, len(ready))
	}
	readyNonce := binary.BigEndian.Uint64(ready[:8])
	peerMeta, ok := box.Open(nil, ready[8:], shortNonce(prefixReady, readyNonce), &serverT, tsec)
	if !ok {
		return fmt.Errorf("%w: READY does not open", ErrCrypto)
	}
	if err := c.acceptPeerMetadata(cfg, peerMeta); err != nil {
		return err
	}
	c.auth = PeerAuth{Mechanism: MechanismCurve}
	c.curve = newCurveCodec(&serverT, tsec, prefixMsgC, prefixMsgS, initiateNonce, readyNonce)
	return nil
}

func (c *Conn) curveServer(cfg Config) error {
	sec := cfg.Security
	hello, err := c.expectCommand(CmdHello)
	if err != nil {
		return err
	}
	clientT, helloNonce, err := openHello(hello, sec.SecretKey)
	if err != nil {
		return err
	}

	serverTPub, serverTSec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var cookieKey [32]byte
	copy(cookieKey[:], randomBytes(32))
	defer clear(cookieKey[:])
	cookieNonce := randomBytes(16)
	cookie := secretbox.Seal(cookieNonce, append(clientT[:], serverTSec[:]...), longNonce(prefixCookie, cookieNonce), &cookieKey)
	welcomeNonce := randomBytes(16)
	welcome := box.Seal(welcomeNonce, append(serverTPub[:], cookie...), longNonce(prefixWelcome, welcomeNonce), clientT, keyPtr(sec.SecretKey))
	if err := c.writeHandshake(CmdWelcome, welcome); err != nil {
		return err
	}

	initiate, err := c.expectCommand(CmdInitiate)
	if err != nil {
		return err
	}
	clientKey, meta, initNonce, err := openInitiate(initiate, &cookieKey, clientT, serverTSec, sec.PublicKey, helloNonce)
	if err != nil {
		return err
	}
	if err := c.authenticate(sec, AuthRequest{ClientKey: clientKey}); err != nil {
		return err
	}
	if err := c.acceptPeerMetadata(cfg, meta); err != nil {
		return err
	}

	const readyNonce = 1
	ourMeta, err := readyMetadata(cfg)
	if err != nil {
		return err
	}
	ready := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(ourMeta)+boxOverhead), readyNonce)
	ready = box.Seal(ready, ourMeta, shortNonce(prefixReady, readyNonce), clientT, serverTSec)
	if err := c.writeHandshake(CmdReady, ready); err != nil {
		return err
	}
	c.curve = newCurveCodec(clientT, serverTSec, prefixMsgS, prefixMsgC, readyNonce, initNonce)
	clear(serverTSec[:])
	return nil
}

// openHello checks a HELLO body and returns the client's transient key
// and the HELLO's short nonce.
func openHello(b []byte, serverSecret Key) (*[KeySize]byte, uint64, error) {
	if len(b) != helloBodySize {
		return nil, 0, fmt.Errorf("%w: HELLO body of %d bytes, want %d", ErrProtocol, len(b), helloBodySize)
	}
	if b[0] != 1 || b[1] != 0 {
		return nil, 0, fmt.Errorf("%w: CurveZMQ version %d.%d, want 1.0", ErrProtocol, b[0], b[1])
	}
	var clientT [KeySize]byte
	copy(clientT[:], b[74:74+KeySize])
	nonce := binary.BigEndian.Uint64(b[106:114])
	sig, ok := box.Open(nil, b[114:], shortNonce(prefixHello, nonce), &clientT, keyPtr(serverSecret))
	if !ok || !allZero(sig) {
		return nil, 0, fmt.Errorf("%w: HELLO does not open with our key", ErrCrypto)
	}
	return &clientT, nonce, nil
}

// openInitiate checks an INITIATE body against the handshake so far:
// the cookie must be ours and name the same transient keys, the nonce
// must follow HELLO's, and the vouch must bind the client's long-term
// key to its transient key and to our long-term key.
func openInitiate(b []byte, cookieKey *[32]byte, clientT, serverTSec *[KeySize]byte, serverPub Key, helloNonce uint64) (Key, []byte, uint64, error) {
	if len(b) < minInitiate {
		return Key{}, nil, 0, fmt.Errorf("%w: INITIATE body of %d bytes, at least %d", ErrProtocol, len(b), minInitiate)
	}
	cookie, ok := secretbox.Open(nil, b[16:cookieSize], longNonce(prefixCookie, b[:16]), cookieKey)
	if !ok || subtle.ConstantTimeCompare(cookie[:KeySize], clientT[:]) != 1 || subtle.ConstantTimeCompare(cookie[KeySize:], serverTSec[:]) != 1 {
		return Key{}, nil, 0, fmt.Errorf("%w: INITIATE carries a cookie we did not issue", ErrCrypto)
	}
	nonce := binary.BigEndian.Uint64(b[cookieSize : cookieSize+8])
	if nonce <= helloNonce {
		return Key{}, nil, 0, fmt.Errorf("%w: INITIATE nonce %d after HELLO's %d", ErrCrypto, nonce, helloNonce)
	}
	plain, ok := box.Open(nil, b[cookieSize+8:], shortNonce(prefixInitiate, nonce), clientT, serverTSec)
	if !ok {
		return Key{}, nil, 0, fmt.Errorf("%w: INITIATE does not open", ErrCrypto)
	}
	var clientKey Key
	copy(clientKey[:], plain[:KeySize])
	vouch := plain[KeySize : KeySize+vouchSize]
	vouched, ok := box.Open(nil, vouch[16:], longNonce(prefixVouch, vouch[:16]), keyPtr(clientKey), serverTSec)
	if !ok || subtle.ConstantTimeCompare(vouched[:KeySize], clientT[:]) != 1 || subtle.ConstantTimeCompare(vouched[KeySize:], serverPub[:]) != 1 {
		return Key{}, nil, 0, fmt.Errorf("%w: INITIATE vouch does not bind the client's keys", ErrCrypto)
	}
	return clientKey, plain[KeySize+vouchSize:], nonce, nil
}

// curveCodec seals and opens MESSAGE commands once the handshake is
// through. Writing is serialised by Conn.wmu, reading by the single
// reader.
type curveCodec struct {
	shared               [32]byte
	sendNonce, recvNonce uint64   // last used, last seen
	sendFull, recvFull   [24]byte // prefix, then the short nonce: no allocation per frame
	plain, sealed        []byte   // write scratch
}

func newCurveCodec(peerT, ourTSec *[KeySize]byte, sendPrefix, recvPrefix string, sent, seen uint64) *curveCodec {
	cc := &curveCodec{sendNonce: sent, recvNonce: seen}
	copy(cc.sendFull[:], sendPrefix)
	copy(cc.recvFull[:], recvPrefix)
	box.Precompute(&cc.shared, peerT, ourTSec)
	return cc
}

// Inner flags of a MESSAGE box.
const (
	curveMore    = 0x01
	curveCommand = 0x02
)

// seal returns the body of a MESSAGE command carrying one frame, and
// the size of the whole command (name included). The result is valid
// until the next call.
func (cc *curveCodec) seal(frame []byte, more, command bool) []byte {
	var flags byte
	if more {
		flags |= curveMore
	}
	if command {
		flags |= curveCommand
	}
	cc.plain = append(append(cc.plain[:0], flags), frame...)
	cc.sendNonce++
	cc.sealed = append(cc.sealed[:0], 7, 'M', 'E', 'S', 'S', 'A', 'G', 'E')
	cc.sealed = binary.BigEndian.AppendUint64(cc.sealed, cc.sendNonce)
	binary.BigEndian.PutUint64(cc.sendFull[16:], cc.sendNonce)
	cc.sealed = box.SealAfterPrecomputation(cc.sealed, cc.plain, &cc.sendFull, &cc.shared)
	return cc.sealed
}

var errNotMessage = fmt.Errorf("%w: expected a CURVE MESSAGE", ErrProtocol)

// open decrypts a MESSAGE command and returns its frame and flags.
func (cc *curveCodec) open(b []byte) (frame []byte, more, command bool, err error) {
	if len(b) < 8 || string(b[:8]) != "\x07MESSAGE" {
		return nil, false, false, errNotMessage
	}
	b = b[8:]
	if len(b) < minMessage {
		return nil, false, false, fmt.Errorf("%w: MESSAGE of %d bytes", ErrProtocol, len(b))
	}
	nonce := binary.BigEndian.Uint64(b[:8])
	if nonce <= cc.recvNonce {
		return nil, false, false, fmt.Errorf("%w: MESSAGE nonce %d after %d (replay)", ErrCrypto, nonce, cc.recvNonce)
	}
	copy(cc.recvFull[16:], b[:8])
	plain, ok := box.OpenAfterPrecomputation(make([]byte, 0, len(b)-8-boxOverhead), b[8:], &cc.recvFull, &cc.shared)
	if !ok {
		return nil, false, false, fmt.Errorf("%w: MESSAGE does not open", ErrCrypto)
	}
	cc.recvNonce = nonce
	flags := plain[0]
	if flags&^(curveMore|curveCommand) != 0 || flags == curveMore|curveCommand {
		return nil, false, false, fmt.Errorf("%w: MESSAGE flags %#x", ErrProtocol, flags)
	}
	return plain[1:], flags&curveMore != 0, flags&curveCommand != 0, nil
}
